"""The table of quantization recipes: one entry per ``quantization:`` value.

Every recipe shares the same pipeline (export → optimize → this recipe's step) and only
says how its own step transforms the optimized graph. ``none`` serves the optimized graph.
A recipe's ``defaults`` name every option it takes; the options a user gives are checked
against them (``resolve_options``) and all of them go into the artifact's key and manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from codegend.engine.errors import CodegendError
from codegend.engine.quant.dynamic_int8 import DYNAMIC_INT8_DEFAULTS, quantize_dynamic_int8
from codegend.engine.quant.int4 import INT4_CHOICES, INT4_DEFAULTS, quantize_int4_weight_only
from codegend.engine.quant.options import coerce_options, format_recipe_spec, parse_recipe_spec
from codegend.engine.quant.static_int8 import (
    STATIC_INT8_CHOICES,
    STATIC_INT8_DEFAULTS,
    quantize_static_int8,
)

# (optimized graph, output directory, options, model directory) -> manifest fields describing
# what was done. The model directory gives calibrating steps the tokenizer and held-out code.
QuantizeStep = Callable[[Path, Path, dict, Path], dict]


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    quantize: QuantizeStep | None  # None: serve the optimized graph as it is
    defaults: dict = field(default_factory=dict)  # every option the recipe takes
    choices: dict = field(default_factory=dict)  # option -> the values it may take


RECIPES: dict[str, Recipe] = {
    "none": Recipe("none", "the optimized float graph (fp32 on CPU, fp16 on GPU)", None),
    "dynamic-int8": Recipe(
        "dynamic-int8",
        "INT8 weights (per-channel, symmetric), activations quantized on the fly",
        quantize_dynamic_int8,
        DYNAMIC_INT8_DEFAULTS,
    ),
    "static-int8": Recipe(
        "static-int8",
        "INT8 weights and activations, activation ranges calibrated on code ahead of time",
        quantize_static_int8,
        STATIC_INT8_DEFAULTS,
        STATIC_INT8_CHOICES,
    ),
    "int4-weight-only": Recipe(
        "int4-weight-only",
        "block-wise INT4 weights in MatMulNBits (rtn, hqq, kquant, gptq), float activations",
        quantize_int4_weight_only,
        INT4_DEFAULTS,
        INT4_CHOICES,
    ),
}


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise CodegendError(
            f"unknown quantization {name!r} (choose from {', '.join(RECIPES)})"
        ) from None


def resolve_options(name: str, given: dict | None = None) -> dict:
    """The recipe's full options: defaults overlaid with ``given``, checked and typed."""
    recipe = get_recipe(name)
    return coerce_options(name, recipe.defaults, recipe.choices, dict(given or {}))


def parse_recipe(spec: str) -> tuple[str, dict]:
    """``"int4-weight-only:algorithm=hqq:block_size=64"`` -> (name, full checked options)."""
    name, raw = parse_recipe_spec(spec)
    return name, resolve_options(name, raw)


def recipe_label(name: str, options: dict) -> str:
    """A short label: the name plus the options that differ from the recipe's defaults."""
    return format_recipe_spec(name, options, get_recipe(name).defaults)
