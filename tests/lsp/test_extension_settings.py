"""The VS Code extension declares the server's settings for its settings UI (package.json).

The server's converter (lsp/settings.py) is the one place settings are checked; the
extension passes the user's values through. What package.json declares must therefore be
what the server reads: the same keys, defaults the server accepts as they are, and the same
allowed values and bounds.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import get_args

import pytest

from codegend.lsp.settings import MAX_DEBOUNCE_MS, MaxCompletion, Settings, settings_from_json

PACKAGE_JSON = Path(__file__).resolve().parents[2] / "extension" / "package.json"
EXTENSION_ONLY = {"server.command", "server.args", "trace.server"}  # never sent to the server
# VS Code's own prose boxes (plain text, markdown, the commit message) are off by default
# there; other editors get the server's default, every language.
VSCODE_DEFAULTS = {"disabledLanguages"}


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)


@pytest.fixture(scope="module")
def declared() -> dict[str, dict]:
    if not PACKAGE_JSON.is_file():
        pytest.skip("the extension is not beside this checkout")
    properties = json.loads(PACKAGE_JSON.read_text())["contributes"]["configuration"]["properties"]
    return {key.removeprefix("codegend."): spec for key, spec in properties.items()
            if key.removeprefix("codegend.") not in EXTENSION_ONLY}


def test_the_extension_declares_exactly_the_keys_the_server_reads(declared):
    assert set(declared) == {_camel(f.name) for f in dataclasses.fields(Settings)}


def test_every_declared_default_is_a_value_the_server_takes_as_it_is(declared):
    for key, spec in declared.items():
        settings, problems = settings_from_json({key: spec["default"]})
        assert problems == [], key
        if key not in VSCODE_DEFAULTS:
            assert settings == Settings(), key


def test_allowed_values_and_bounds_match(declared):
    assert set(declared["maxCompletion"]["enum"]) == set(get_args(MaxCompletion))
    assert (declared["debounceMs"]["minimum"], declared["debounceMs"]["maximum"]) == \
        (0, MAX_DEBOUNCE_MS)
