"""Token choice: greedy, temperature and top-p, on logits whose answer is known."""

from __future__ import annotations

import numpy as np

from codegend.engine.sampling import Sampler, nucleus_probabilities
from codegend.engine.types import SamplingParams


def test_greedy_picks_the_argmax_and_reports_its_log_probability():
    logits = np.array([0.0, 2.0, 1.0], dtype=np.float32)
    token, logprob = Sampler(SamplingParams()).choose(logits)
    expected = 2.0 - np.log(np.exp(0.0) + np.exp(2.0) + np.exp(1.0))
    assert token == 1 and abs(logprob - expected) < 1e-9


def test_top_p_keeps_the_smallest_set_reaching_the_mass():
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    probs = nucleus_probabilities(logits, temperature=1.0, top_p=0.8)
    assert np.allclose(probs, [0.5 / 0.8, 0.3 / 0.8, 0.0, 0.0])


def test_a_huge_logit_range_at_a_small_temperature_stays_finite():
    logits = np.array([1e4, -1e4, 0.0], dtype=np.float32)
    probs = nucleus_probabilities(logits, temperature=1e-3, top_p=1.0)
    assert np.isfinite(probs).all() and probs[0] == 1.0


def test_the_seed_fixes_the_stream_of_choices():
    logits = np.zeros(50, dtype=np.float32)
    params = SamplingParams(temperature=1.0, seed=3)
    first = [Sampler(params).choose(logits)[0] for _ in range(1)]
    sampler_a, sampler_b = Sampler(params), Sampler(params)
    a = [sampler_a.choose(logits)[0] for _ in range(20)]
    b = [sampler_b.choose(logits)[0] for _ in range(20)]
    assert a == b and a[0] == first[0] and len(set(a)) > 5


def test_verifying_a_draft_draws_from_the_same_distribution_as_sampling():
    """The acceptance rule (accept with p(draft), else the renormalised rest) leaves the
    distribution of the emitted token exactly p, whichever token was drafted."""
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    params = SamplingParams(temperature=1.0, top_p=0.9, seed=3)
    expected = nucleus_probabilities(logits, 1.0, 0.9)
    draws = 20_000
    for draft in (0, 2, 3):  # likely, unlikely, and outside the nucleus
        sampler = Sampler(params)
        counts = np.bincount([sampler.verify(logits, draft)[0] for _ in range(draws)],
                             minlength=4)
        assert np.abs(counts / draws - expected).max() < 0.015, draft
    assert counts[3] == 0  # a token outside the nucleus is never accepted


def test_greedy_verification_accepts_exactly_the_argmax():
    logits = np.array([0.0, 2.0, 1.0], dtype=np.float32)
    sampler = Sampler(SamplingParams())
    assert sampler.verify(logits, 1)[0] == 1
    assert sampler.verify(logits, 2) == sampler.choose(logits)


def test_top_logprobs_are_the_likeliest_best_first():
    from codegend.engine.sampling import log_softmax, top_logprobs

    logits = np.array([0.5, 3.0, -1.0, 2.0, 2.0])
    top = top_logprobs(logits, 3)
    assert [token for token, _ in top] == [1, 3, 4]
    assert abs(top[0][1] - log_softmax(logits)[1]) < 1e-12
    assert top_logprobs(logits, 0) == [] and len(top_logprobs(logits, 9)) == 5
