"""Neovim, unchanged, completing through ``codegend lsp``: the bytes it writes to the file.

Debian's Neovim 0.7 (``vim.lsp.omnifunc``: no snippets, no completion context) and a current
Neovim (``vim.lsp.completion``: snippets, trigger characters, the accept command) accept a
multi-line and a single-line suggestion and a suggestion asked for inside a word; the test
writes the buffer and reads the file. The server is the real ``codegend lsp`` on the scripted
engine (exact model output). Skipped, with the reason, where a binary is missing.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from tests.lsp.neovim import find_neovim, neovim_editing

pytest.importorskip("pynvim", reason="pynvim (the dev extra) drives Neovim")
pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[2]
BLOCK = "result = 0\n    for item in items:\n        result += item\n    return result"
SCRIPT = {
    "answers": {
        "def total(items):": BLOCK + "\n\nprint(total([]))",
        "total =": "price * count",
        "items = get": "All",
    },
}


@pytest.fixture(params=["debian", "current"])
def neovim(request) -> str:
    binary, why = find_neovim(request.param)
    if binary is None:
        pytest.skip(why)
    return binary


def edit(neovim: str, tmp_path: Path, text: str):
    """Neovim editing a Python file holding ``text``; yields (session, file, stats file)."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    stats = tmp_path / "stats.json"
    server = [sys.executable, "-m", "tests.lsp.fake_engine_server", str(script), str(stats)]
    path = tmp_path / "edited.py"
    path.write_bytes(text.encode())
    return neovim_editing(neovim, path, server, REPO, tmp_path), path, stats


def wait_for_stats(stats: Path, timeout_s: float = 20.0) -> None:
    """Neovim runs the accept command without waiting for its answer: keep the session open
    (so the server keeps running) until the server has saved what it counted, or give up."""
    deadline = time.monotonic() + timeout_s
    while not stats.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def accepted_characters(stats: Path) -> int | None:
    if not stats.exists():
        return None
    rows = json.loads(stats.read_text())["acceptance"]
    return sum(row["acceptedCharacters"] for row in rows)


def test_a_multi_line_suggestion_is_written_whole_or_as_its_first_line(neovim, tmp_path):
    session_cm, path, stats = edit(neovim, tmp_path, "def total(items):\n    \n")
    with session_cm as session:
        session.insert_at(2, 4)
        session.complete_and_accept()
        session.write()
        current = session.current
        if current:
            wait_for_stats(stats)
    data = path.read_bytes()
    assert b"\x00" not in data
    if current:  # snippets: the whole block, indented as the model wrote it
        assert data.decode() == f"def total(items):\n    {BLOCK}\n"
        assert accepted_characters(stats) == len(BLOCK)
    else:  # no snippets: the first line, never a newline turned into NUL
        assert data == b"def total(items):\n    result = 0\n"


def test_a_single_line_suggestion_with_spaces_is_inserted_whole(neovim, tmp_path):
    session_cm, path, stats = edit(neovim, tmp_path, "total = \n")
    with session_cm as session:
        session.insert_at(1, 8)
        session.complete_and_accept()
        session.write()
        current = session.current
        if current:
            wait_for_stats(stats)
    assert path.read_bytes() == b"total = price * count\n"
    if current:
        assert accepted_characters(stats) == len("price * count")


def test_an_explicit_request_inside_a_word(neovim, tmp_path):
    session_cm, path, _ = edit(neovim, tmp_path, "items = getValue()\n")
    with session_cm as session:
        session.insert_at(1, len("items = get"))
        session.complete_and_accept()
        session.write()
    assert path.read_bytes() == b"items = getAllValue()\n"


def test_typing_a_trigger_character_completes_as_you_type(tmp_path):
    binary, why = find_neovim("current")
    if binary is None:
        pytest.skip(why)
    session_cm, path, _ = edit(binary, tmp_path, "total\n")
    with session_cm as session:
        session.insert_at(1, 5)
        session.complete_and_accept(keys=" = ")  # " " is a trigger character; nothing else asks
        session.write()
    assert path.read_bytes() == b"total = price * count\n"
