"""Prompt-lookup drafting on token sequences whose answer is known."""

from __future__ import annotations

import numpy as np

from codegend.engine.prompt_lookup import LookupConfig, PromptLookup


def _lookup(sequence: list[int], sources=(), ends=None, **config) -> PromptLookup:
    lookup = PromptLookup(LookupConfig(**config), sources, ends)
    lookup.extend(sequence)
    return lookup


def test_the_tokens_after_an_earlier_occurrence_of_the_tail_are_drafted():
    lookup = _lookup([1, 2, 3, 4, 5, 6, 9, 9, 1, 2, 3], initial_draft_tokens=8)
    assert lookup.draft(3) == [4, 5, 6]
    assert lookup.draft(10) == [4, 5, 6, 9, 9, 1, 2, 3]


def test_drafts_lengthen_while_accepted_and_shorten_when_not():
    lookup = _lookup([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1], initial_draft_tokens=2,
                     max_draft_tokens=5)
    assert lookup.draft(99) == [2, 3]
    lookup.extend([2, 3, 4])  # both accepted, then the model's own token
    assert lookup.draft(99) == [5, 6, 7, 8]
    lookup.extend([5, 6, 7, 8, 9])
    assert lookup.draft(99) == [10, 11, 12, 1, 2]  # capped at max_draft_tokens
    lookup.extend([10, 40])  # the second was rejected
    assert lookup.draft(99) == []  # 40 occurs nowhere else
    lookup.extend([1, 2])  # no draft was pending: the length stays
    assert len(lookup.draft(99)) == 4


def test_a_draft_ends_after_a_flagged_token():
    ends = np.zeros(20, dtype=bool)
    ends[5] = True  # say, a newline
    lookup = _lookup([1, 2, 3, 4, 5, 6, 7, 1, 2], initial_draft_tokens=8, ends=ends)
    assert lookup.draft(8) == [3, 4, 5]


def test_the_longest_match_wins_then_the_latest():
    # "7 3" occurs twice, "2 3" once: the tail "1 2 3" matches best at the first.
    lookup = _lookup([1, 2, 3, 10, 11, 7, 3, 20, 21, 7, 3, 30, 31, 1, 2, 3])
    assert lookup.draft(2) == [10, 11]
    latest = _lookup([7, 3, 20, 21, 7, 3, 30, 31, 5, 3])
    assert latest.draft(2) == [30, 31]  # one-token matches only: the latest one


def test_a_single_token_match_drafts_only_a_few_tokens():
    lookup = _lookup([5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 5], short_match_draft_tokens=2)
    assert lookup.draft(8) == [6, 7]  # after the latest 5, cut to two
    assert _lookup([5, 1, 2, 3, 5], min_ngram=2).draft(8) == []


def test_other_sources_are_searched_and_a_longer_match_there_wins():
    suffix = [40, 41, 1, 2, 3, 42, 43, 44]
    lookup = _lookup([9, 3, 50, 51, 1, 2, 3], sources=[suffix])
    assert lookup.draft(3) == [42, 43, 44]
    # Without a match anywhere nothing is drafted.
    assert _lookup([1, 2, 3], sources=[[7, 8, 9]]).draft(4) == []


def test_drafts_follow_the_sequence_as_it_grows():
    lookup = _lookup([1, 2, 3, 4, 1, 2])
    assert lookup.draft(2) == [3, 4]
    lookup.extend([3, 4] + list(range(100, 400)) + [1])  # past the first buffer
    assert lookup.draft(2) == [2, 3]
    assert lookup.draft(0) == []


def test_the_very_end_is_never_its_own_match():
    assert _lookup([1, 2, 3]).draft(4) == []
    assert _lookup([7]).draft(4) == []
