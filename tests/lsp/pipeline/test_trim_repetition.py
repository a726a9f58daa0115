"""The loop detector on its own: what counts as a loop and what is ordinary repetition."""

from __future__ import annotations

import pytest

from codegend.lsp.pipeline.postprocess.trim_repetition import first_line_loop, first_loop


@pytest.mark.parametrize(
    ("text", "loop"),
    [
        ("self.tk.call(self.tk.call(self.tk.call(", (0, 13)),
        ("x = _abc.abc.abc.abc", (5, 4)),
        ("import re\nimport re\nimport re\n", (0, 10)),
    ],
)
def test_loops_are_found_at_their_first_copy(text, loop):
    assert first_loop(text) == loop


@pytest.mark.parametrize(
    "text",
    [
        "[0, 0, 0, 0, 0, 0]",  # a short cycle: ordinary code
        "[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]",  # numbers, however many
        '# ----------------------------------------',  # a ruler has no letter or digit
        "        return None",  # indentation
        "self.a(self.a(",  # only twice
        "",
    ],
)
def test_ordinary_repetition_is_not_a_loop(text):
    assert first_loop(text) is None


@pytest.mark.parametrize(
    ("text", "prefix", "end"),
    [
        ("#\n#\n#\n#", "", 1),  # bare comment lines
        ("x = 1\n    #\n    #\n    #", "    ", 11),  # after a line with words
        ("#\n    #\n    #\n    #", "    ", 1),  # the first line is indented by the cursor line
        ("}\n}\n}\n", "", 1),
    ],
)
def test_wordless_lines_repeated_are_a_loop(text, prefix, end):
    assert first_line_loop(text, prefix) == end


@pytest.mark.parametrize(
    ("text", "prefix"),
    [
        ("        }\n    }\n}", ""),  # closers dedenting: each line differs
        ("#\n#", ""),  # only twice
        ("0,\n0,\n0,", ""),  # numbers are data
        ("\n\n\n\n", ""),  # blank lines
    ],
)
def test_ordinary_lines_are_not_a_line_loop(text, prefix):
    assert first_line_loop(text, prefix) is None
