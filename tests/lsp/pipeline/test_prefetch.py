"""Prefetch pieces: the document after an acceptance, and follow-ups in the cache."""

from __future__ import annotations

from codegend.lsp.pipeline.completion_cache import CachedSuggestion, CompletionCache, Insertion
from codegend.lsp.pipeline.cursor import CursorContext
from codegend.lsp.pipeline.prefetch import cursor_after

URI = "file:///w/a.py"


def test_the_cursor_after_accepting_one_line():
    cursor = CursorContext.from_marked_text("x = █)\ny = 2\n")
    after = cursor_after(cursor, "f(1")
    assert (after.line, after.column) == (0, 7)
    assert after.current_line == "x = f(1)" and after.line_suffix == ")"
    assert list(after.lines_after()) == ["y = 2"]


def test_the_cursor_after_accepting_a_block():
    cursor = CursorContext.from_marked_text("def f():\n    █")
    after = cursor_after(cursor, "a = 1\n    return a")
    assert after == CursorContext.from_marked_text("def f():\n    a = 1\n    return a█")
    ends = cursor_after(CursorContext.from_marked_text("x = 1\n█"), "y = 2\n")
    assert (ends.line, ends.column, ends.line_prefix) == (2, 0, "")


def _entry(line, column, text, shown_id="s1", **kwargs) -> CachedSuggestion:
    return CachedSuggestion(line, column, text, "m", shown_id, **kwargs)


def test_a_follow_up_takes_over_once_the_suggestion_is_all_in():
    cache = CompletionCache()
    cache.store(URI, _entry(0, 4, "abc"))
    assert cache.attach(URI, "s1", _entry(0, 7, "def", "s2", prefetched=True))
    assert cache.document_changed(URI, Insertion(0, 4, "ab"))
    assert cache.lookup(URI, 0, 6).remaining == "c"  # the follow-up waits behind it
    assert cache.document_changed(URI, Insertion(0, 6, "c"))
    follow = cache.lookup(URI, 0, 7)
    assert follow.remaining == "def" and follow.shown_id == "s2" and follow.prefetched


def test_a_follow_up_ready_after_the_acceptance_still_counts_until_the_next_edit():
    cache = CompletionCache()
    cache.store(URI, _entry(0, 4, "abc"))
    assert cache.document_changed(URI, Insertion(0, 4, "abc"))  # Tab, nothing to follow yet
    assert cache.lookup(URI, 0, 7) is None
    assert not cache.attach(URI, "s1", _entry(0, 8, "x", "s2"))  # not where it ended
    assert cache.attach(URI, "s1", _entry(0, 7, "def", "s2"))
    assert cache.lookup(URI, 0, 7).remaining == "def"
    cache.store(URI, _entry(0, 4, "abc", "s3"))
    cache.document_changed(URI, Insertion(0, 4, "abc"))
    cache.document_changed(URI, Insertion(0, 7, "!"))  # typed on: too late for it
    assert not cache.attach(URI, "s3", _entry(0, 7, "def", "s4"))


def test_a_diverging_edit_drops_the_suggestion_and_its_follow_up():
    cache = CompletionCache()
    cache.store(URI, _entry(0, 4, "abc"))
    cache.attach(URI, "s1", _entry(0, 7, "def", "s2"))
    assert not cache.document_changed(URI, Insertion(0, 4, "x"))
    assert cache.lookup(URI, 0, 4) is None and cache.lookup(URI, 0, 7) is None
    assert not cache.attach(URI, "s1", _entry(0, 7, "def", "s3"))
