"""Positions, trigger rules, completion modes, stop rules and settings: pure stages."""

from __future__ import annotations

import pytest

from codegend.lsp.pipeline.completion_mode import choose_mode
from codegend.lsp.pipeline.cursor import CursorContext, client_units_before, locate_cursor
from codegend.lsp.pipeline.postprocess import postprocess
from codegend.lsp.pipeline.postprocess.context import Candidate, PostprocessContext
from codegend.lsp.pipeline.stop_rules import (
    BlockStop,
    FirstContentLine,
    LineStop,
    StreamingStop,
    explicit_on_blank_line,
)
from codegend.lsp.pipeline.trigger import should_complete
from codegend.lsp.positions import UTF8, UTF16
from codegend.lsp.settings import Settings, settings_from_json

LINES = ("s = '😀中x'\n", "tail")


@pytest.mark.parametrize(
    ("character", "column"),
    [(0, 0), (5, 5), (7, 6), (8, 7), (9, 8), (100, 9)],
)
def test_utf16_positions_count_surrogate_pairs_as_two(character: int, column: int) -> None:
    assert locate_cursor(LINES, 0, character, UTF16) == column


def test_position_inside_a_surrogate_pair_is_refused() -> None:
    assert locate_cursor(LINES, 0, 6, UTF16) is None


def test_utf8_positions_count_bytes() -> None:
    # s = '  is 5 bytes, 😀 4, 中 3: x starts at byte 12
    assert locate_cursor(LINES, 0, 12, UTF8) == 7
    assert locate_cursor(LINES, 0, 10, UTF8) is None  # inside 中


def test_positions_beyond_the_document() -> None:
    assert locate_cursor(LINES, 2, 0, UTF16) is None  # no final newline: no line 2
    assert locate_cursor(("a\n",), 1, 0, UTF16) == 0  # the empty line after the newline
    assert locate_cursor(("a\n",), 1, 3, UTF16) is None
    assert locate_cursor((), 0, 0, UTF16) == 0
    assert locate_cursor(LINES, -1, 0, UTF16) is None


def test_client_units_round_trip() -> None:
    assert client_units_before(LINES, 0, 7, UTF16) == 8
    assert client_units_before(LINES, 0, 7, UTF8) == 12


@pytest.mark.parametrize(
    ("text", "invoked", "complete"),
    [
        ("x = foo█", False, True),  # end of an identifier: complete it
        ("x = fo█o", False, False),  # inside one
        ("x = fo█o", True, True),  # explicit triggers always complete
        ("print(█)", False, True),  # only closing brackets follow
        ('call("█");', False, True),
        ("x = █y + 1", False, False),  # code follows
        ("x = █\x00\x01", True, False),  # binary content, even when invoked
    ],
)
def test_trigger_rules(text: str, invoked: bool, complete: bool) -> None:
    cursor = CursorContext.from_marked_text(text)
    assert should_complete(cursor, invoked).complete is complete


@pytest.mark.parametrize(
    ("text", "setting", "mode"),
    [
        ("def f():\n    █", "auto", "block"),  # empty line after an opener
        ("def f():\n    # todo\n    █\nx = 1", "auto", "block"),  # empty body (comments only)
        ("def f():█", "auto", "block"),  # the opener ends the line
        ("x = 1\n█", "auto", "line"),  # an ordinary empty line
        ("print(█)", "auto", "line"),  # code after the cursor
        ("def f():\n    █", "line", "line"),
        ("x = 1\n█", "block", "block"),
        ("x = █y", "block", "line"),
        ("function f() {\n  █\n}", "auto", "block"),
    ],
)
def test_completion_mode(text: str, setting: str, mode: str) -> None:
    language = "javascript" if "function" in text else "python"
    cursor = CursorContext.from_marked_text(text, language=language)
    assert choose_mode(cursor, setting) == mode


def test_line_stop_cuts_at_first_newline() -> None:
    assert LineStop().cut_index("a + b\nc") == 5
    assert LineStop().cut_index("a + b") is None


def test_block_stop_fires_while_streaming_only_once_the_dedent_is_certain() -> None:
    watcher = StreamingStop(BlockStop("    "))
    pieces = ["return x", "\n", "\n", "    ", "  # more", "\n", "de", "f g():"]
    fired_at = [watcher.feed(piece) for piece in pieces]
    assert fired_at.index(True) == 6  # "de" at column 0 is the first proof of a dedent
    cut = watcher.rule.cut_index(watcher.text)
    assert watcher.text[:cut] == "return x\n\n      # more"


def test_an_explicit_request_on_a_blank_line_answers_its_first_line_with_content() -> None:
    assert explicit_on_blank_line("line", "    ", "", invoked=True)
    assert not explicit_on_blank_line("line", "    ", "", invoked=False)
    assert not explicit_on_blank_line("line", "x = ", "", invoked=True)
    assert not explicit_on_blank_line("block", "", "", invoked=True)
    watcher = StreamingStop(FirstContentLine())
    fired_at = [watcher.feed(piece) for piece in ["\n", "  \n", "    if x", ":", "\n", "y"]]
    assert fired_at.index(True) == 4  # the first line with content is complete
    cursor = CursorContext.from_marked_text("def f(x):\n    y = x\n█\n    return y\n")
    context = PostprocessContext(cursor, "block", FirstContentLine(), invoked=True)
    shown = postprocess(Candidate(watcher.text), context)
    assert shown == Candidate("    if x:")  # judged with a body under it: it is asked for
    indented = CursorContext.from_marked_text("def f(x):\n    y = x\n    █\n    return y\n")
    context = PostprocessContext(indented, "block", FirstContentLine(), invoked=True)
    assert postprocess(Candidate("\n\n    y += 1\n"), context) == Candidate("y += 1")
    assert postprocess(Candidate("\n\n  \n"), context) is None  # only blank lines


def test_settings_convert_from_camel_case() -> None:
    settings, problems = settings_from_json(
        {"enable": False, "disabledLanguages": ["markdown"], "debounceMs": 20,
         "maxCompletion": "line", "configPath": "/tmp/c.yaml", "model": "big", "other": 1}
    )
    assert problems == []
    assert settings == Settings(False, frozenset({"markdown"}), "/tmp/c.yaml", 20, "line", "big")


def test_invalid_settings_are_named_and_fall_back_to_defaults() -> None:
    base = Settings(debounce_ms=10)
    settings, problems = settings_from_json(
        {"debounceMs": "fast", "maxCompletion": "all", "enable": 1, "model": "m"}, base
    )
    assert [p.name for p in problems] == ["enable", "debounceMs", "maxCompletion"]
    assert "debounceMs" in str(problems[1]) and "fast" in str(problems[1])
    assert settings == Settings(model="m")
    assert settings_from_json("nonsense")[1][0].name == "codegend"
