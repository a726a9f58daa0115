"""Quality and usefulness metrics on constructed cases whose answers are known exactly."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from codegend.engine.eval.probes import (
    Probe,
    edit_similarity,
    levenshtein,
    sample_probes,
    score_probes,
)
from codegend.engine.quant.quality import compare_logits


def test_identical_logits_agree_fully_with_ratio_one_and_zero_kl():
    rng = np.random.default_rng(3)
    logits = [rng.normal(size=(12, 50)).astype(np.float32) for _ in range(3)]
    sequences = [rng.integers(0, 50, 12).tolist() for _ in range(3)]
    report = compare_logits(logits, [x.copy() for x in logits], sequences)
    assert report.positions == 3 * 11
    assert report.top1_agreement == 1.0
    assert report.perplexity_ratio == pytest.approx(1.0, abs=1e-12)
    assert report.kl_divergence == pytest.approx(0.0, abs=1e-12)


def test_a_constructed_difference_gives_the_exact_numbers():
    # Two positions over a two-token vocabulary. The reference is uniform at both; the
    # candidate puts 3:1 on token 0 first, then 1:3 (its top choice flips at position 2).
    reference = [np.zeros((3, 2))]
    candidate = [np.array([[math.log(3), 0.0], [0.0, math.log(3)], [0.0, 0.0]])]
    sequence = [[0, 1, 0]]  # targets: token 1, then token 0 -> candidate gives each 1/4
    report = compare_logits(reference, candidate, sequence)
    assert report.positions == 2
    assert report.top1_agreement == 0.5
    assert report.perplexity_reference == pytest.approx(2.0)
    assert report.perplexity_candidate == pytest.approx(4.0)
    assert report.perplexity_ratio == pytest.approx(2.0)
    # KL(uniform || 3:1) at each position = 1/2 ln(4/3)
    assert report.kl_divergence == pytest.approx(0.5 * math.log(4 / 3))


def test_edit_similarity_and_distance():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert edit_similarity("return x", "return x") == 1.0
    assert edit_similarity("", "") == 1.0
    assert edit_similarity("abcd", "wxyz") == 0.0
    assert edit_similarity("return a", "return b") == pytest.approx(1 - 1 / 8)


def test_probe_scores_compare_tokens_with_fp32_and_lines_with_the_real_code():
    probes = [Probe(Path("a.py"), 3, "x = 1\n", "return x"),
              Probe(Path("a.py"), 7, "y = 2\n", "return y")]
    texts = {1: "return x", 2: "\n", 3: "return z"}

    def decode(ids):
        return "".join(texts[i] for i in ids)

    scores = score_probes(probes, completions=[[1, 2, 3], [3]], reference=[[1, 2, 3], [1]],
                          decode=decode)
    assert scores.probes == 2
    assert scores.greedy_exact_match == 0.5
    assert scores.next_line_exact_match == 0.5  # "return x" right, "return z" != "return y"
    assert scores.next_line_edit_similarity == pytest.approx((1.0 + 7 / 8) / 2)


def test_probes_are_line_starts_with_the_indentation_in_the_prompt(tmp_path):
    source = tmp_path / "m.py"
    body = "".join(f"    value_{i} = compute({i})\n" for i in range(10))
    source.write_text("def f():\n" + body + "    # a comment line is never a probe\n")
    probes = sample_probes([source], count=5, seed=1)
    assert len(probes) == 5
    # 10 code lines; the first 3 have under MIN_PROMPT_CHARS before them; the comment is prose
    assert len(sample_probes([source], count=50)) == 7
    text = source.read_text()
    for probe in probes:
        assert probe.prompt.endswith("\n    ")
        assert text.startswith(probe.prompt + probe.expected)
        assert probe.expected.startswith("value_")
    assert sample_probes([source], count=5, seed=1) == probes  # reproducible
