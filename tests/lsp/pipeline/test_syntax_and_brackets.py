"""The parse check and the bracket scan on their own: what they judge and what they leave."""

from __future__ import annotations

import pytest

from codegend.lsp.pipeline.cursor import CursorContext
from codegend.lsp.pipeline.postprocess.balance_brackets import open_before_line, scan
from codegend.lsp.pipeline.postprocess.context import Candidate, PostprocessContext
from codegend.lsp.pipeline.postprocess.drop_syntax_breaking import (
    breaks_parsing,
    drop_syntax_breaking,
    statement_span,
)

MODULE = """import os


@cached
def f(x):
    try:
        return x
    except KeyError:
        pass
# commented out at column 0
    return None
else_branch = 1
"""


def test_the_statement_span_holds_the_whole_top_level_statement() -> None:
    lines = MODULE.splitlines(True)
    assert statement_span(lines, 6) == (4, 11)  # the def, its except arm and column-0 comment
    assert statement_span(lines, 0) == (0, 3)  # blank lines belong to the statement above
    assert statement_span(lines, 2) == (0, 3)
    assert statement_span(lines, 11) == (11, 12)  # an identifier that starts with "else"


@pytest.mark.parametrize(
    ("text", "completion", "breaks"),
    [
        ("def f(x):\n    return x█\n", " +", True),
        ("def f(x):\n    return x█\n", " + 1", False),
        ("def f(x):\n    return x +█\n", ")", False),  # it did not parse before: no claim
        ("x = 1\n█", "def g():\n    return 2", False),
        ("x = 1\n█", "  y = 2", True),
    ],
)
def test_breaks_parsing(text: str, completion: str, breaks: bool) -> None:
    cursor = CursorContext.from_marked_text(text)
    assert breaks_parsing(cursor, completion) is breaks


def test_a_block_header_breaks_an_automatic_suggestion_but_not_an_explicit_one() -> None:
    cursor = CursorContext.from_marked_text("def f(x):\n    y = x\n█\n    return y\n")
    assert breaks_parsing(cursor, "    if y:")
    assert not breaks_parsing(cursor, "    if y:  # positive", body_follows=True)
    assert breaks_parsing(cursor, "    else:", body_follows=True)  # no `if` to belong to
    automatic = PostprocessContext.for_cursor(cursor, "line")
    assert drop_syntax_breaking(Candidate("    if y:"), automatic) is None
    explicit = PostprocessContext(cursor, "line", automatic.stop_rule, invoked=True)
    assert drop_syntax_breaking(Candidate("    if y:"), explicit) == Candidate("    if y:")


def test_other_languages_are_not_parsed() -> None:
    cursor = CursorContext.from_marked_text("const x = 1;█\n", language="javascript")
    context = PostprocessContext.for_cursor(cursor, "line")
    assert drop_syntax_breaking(Candidate(" +"), context) == Candidate(" +")


def test_scan_starts_with_what_the_lines_above_left_open() -> None:
    cursor = CursorContext.from_marked_text('x = f(\n    """doc\n    more█')
    assert open_before_line(cursor) == ("(", '"""')
    assert scan('"""', "python", ("(", '"""')).stack == ("(",)


@pytest.mark.parametrize(
    ("text", "stack"),
    [
        ('"a""" + (', ("(",)),  # a triple quote right after a one-line string closes it
        ("x = '(' # (\n[", ("[",)),  # brackets in strings and comments do not count
        ("`a\nb` + {", ("{",)),  # template literals span lines
        ('"abc\n(', ("(",)),  # a one-line string ends at its line
    ],
)
def test_scan_stack(text: str, stack: tuple[str, ...]) -> None:
    language = "javascript" if "`" in text else "python"
    assert scan(text, language).stack == stack


def test_first_below_is_where_the_text_closes_what_was_open() -> None:
    assert scan("path):", "python", ("(",)).first_below == 4
    assert scan("a(b)", "python", ("(",)).first_below is None
