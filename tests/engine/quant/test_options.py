"""Recipe options: checked, typed, and written the same way however they were given."""

from __future__ import annotations

import pytest

from codegend.engine.errors import CodegendError
from codegend.engine.quant.recipes import RECIPES, parse_recipe, recipe_label, resolve_options


def test_every_quantizing_recipe_declares_its_options_by_defaults():
    for name, recipe in RECIPES.items():
        if recipe.quantize is not None:
            assert recipe.defaults, name
            assert resolve_options(name) == recipe.defaults


def test_strings_from_the_command_line_become_the_defaults_types():
    name, options = parse_recipe(
        "static-int8:method=Percentile:percentile=99.9:per_channel=no:"
        "exclude-nodes=*lm_head*+*h.0/*:calibration_samples=4")
    assert name == "static-int8"
    assert options["method"] == "percentile"
    assert options["percentile"] == 99.9
    assert options["per_channel"] is False
    assert options["exclude_nodes"] == ("*lm_head*", "*h.0/*")
    assert options["calibration_samples"] == 4
    assert options["calibration_dir"] is None


def test_yaml_values_and_cli_strings_give_the_same_options():
    from_yaml = resolve_options("int4-weight-only", {"block_size": 64, "symmetric": True,
                                                     "exclude_nodes": ["*lm_head*"]})
    _, from_cli = parse_recipe("int4-weight-only:block_size=64:symmetric=true:"
                               "exclude_nodes=*lm_head*")
    assert from_yaml == from_cli


@pytest.mark.parametrize("spec, message", [
    ("static-int8:methd=entropy", "unknown option 'methd'"),
    ("static-int8:method=kl", "choose from minmax, percentile, entropy"),
    ("int4-weight-only:block_size=48", "choose from 16, 32, 64, 128, 256"),
    ("int4-weight-only:block_size=big", "is not an integer"),
    ("dynamic-int8:per_channel=maybe", "is not true or false"),
    ("static-int8:method", "expected KEY=VALUE"),
    ("int8-magic", "unknown quantization 'int8-magic'"),
])
def test_bad_options_are_one_clear_error(spec, message):
    with pytest.raises(CodegendError, match=message.replace("(", r"\(")):
        parse_recipe(spec)


def test_labels_show_only_what_differs_from_the_defaults():
    _, options = parse_recipe("int4-weight-only:algorithm=hqq:block_size=32")
    assert recipe_label("int4-weight-only", options) == "int4-weight-only:algorithm=hqq"
    assert recipe_label("dynamic-int8", resolve_options("dynamic-int8")) == "dynamic-int8"
