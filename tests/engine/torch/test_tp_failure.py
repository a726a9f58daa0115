"""A rank that dies or hangs fails the request within a bounded time; restart recovers.

The bounds asserted here are generous ceilings on failure detection (seconds on a loaded
2-core machine), not performance measurements.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from codegend.engine.errors import ModelSourceError
from codegend.engine.generate import StepperGenerator
from codegend.engine.model_source import resolve_model_source
from codegend.engine.tokenizer import load_tokenizer
from codegend.engine.torch.tp_stepper import TensorParallelError, open_tp_stepper
from codegend.engine.types import SamplingParams
from tests.engine.torch.test_codegen import PROMPT, save_hf_codegen
from tests.tiny_models import build_tiny_codegen

DETECTION_BOUND_S = 15.0


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_codegen(tmp_path_factory.mktemp("tp-failure"), n_head=8, n_embd=64,
                              rotary_dim=8, seed=5)


@pytest.mark.parametrize("victim", [0, 1])
def test_a_rank_killed_mid_generation_fails_cleanly_and_restart_recovers(model_dir, victim):
    tokenizer = load_tokenizer(model_dir, resolve_model_source(str(model_dir)).vocab_size)
    stepper = open_tp_stepper(model_dir, world_size=2, device="cpu", step_timeout_s=60)
    try:
        prompt = tokenizer.encode("def add(a, b):\n")
        params = SamplingParams(max_new_tokens=30)
        expected = StepperGenerator("ok", stepper, tokenizer, 128).generate_ids(prompt, params)

        tokens = iter(StepperGenerator("tp", stepper, tokenizer, 128).generate(
            tokenizer.decode(prompt), params))
        next(tokens)
        os.kill(stepper.rank_pids[victim], signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(TensorParallelError) as failure:
            for _ in tokens:
                pass
        assert time.monotonic() - started < DETECTION_BOUND_S
        message = str(failure.value)
        assert f"rank {victim}" in message and "SIGKILL" in message
        assert not stepper.healthy
        assert f"rank {victim}" in stepper.failure
        assert stepper.cached_tokens == 0
        with pytest.raises(TensorParallelError, match="unavailable"):
            stepper.feed([1])  # no silent half-working group

        stepper.restart()
        assert stepper.healthy and stepper.failure is None
        # A fresh generator: the old one's record of cached tokens died with the ranks.
        again = StepperGenerator("tp", stepper, tokenizer, 128).generate_ids(prompt, params)
        assert again == expected
    finally:
        stepper.close()
    assert not any(_alive(pid) for pid in stepper.rank_pids)


def test_a_rank_dying_while_idle_shows_in_health(model_dir):
    stepper = open_tp_stepper(model_dir, world_size=2, device="cpu")
    try:
        pids = stepper.rank_pids
        os.kill(pids[1], signal.SIGKILL)
        deadline = time.monotonic() + DETECTION_BOUND_S
        while stepper.healthy and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not stepper.healthy
        assert "rank 1" in stepper.failure
    finally:
        stepper.close()
    assert not any(_alive(pid) for pid in pids)


def test_a_hung_rank_times_out_instead_of_hanging(model_dir):
    stepper = open_tp_stepper(model_dir, world_size=2, device="cpu", step_timeout_s=2)
    try:
        first = stepper.feed(PROMPT)
        os.kill(stepper.rank_pids[1], signal.SIGSTOP)  # alive but never answers
        started = time.monotonic()
        with pytest.raises(TensorParallelError, match="no answer within 2 s"):
            stepper.feed([3])
        assert time.monotonic() - started < DETECTION_BOUND_S
        assert not stepper.healthy
        stepper.restart()
        np.testing.assert_array_equal(stepper.feed(PROMPT), first)
    finally:
        stepper.close()


def test_unreadable_weights_fail_the_start_with_the_ranks_error(tmp_path):
    directory, _ = save_hf_codegen(tmp_path)
    weights = directory / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:3000])
    started = time.monotonic()
    with pytest.raises(TensorParallelError, match=r"rank \d: ModelSourceError: .*safetensors"):
        open_tp_stepper(directory, world_size=2, device="cpu")
    assert time.monotonic() - started < DETECTION_BOUND_S


def test_impossible_splits_are_refused_before_any_process_starts(model_dir):
    with pytest.raises(ModelSourceError, match="not divisible by world_size=3"):
        open_tp_stepper(model_dir, world_size=3, device="cpu")
    with pytest.raises(ModelSourceError, match="dtype must be one of"):
        open_tp_stepper(model_dir, world_size=1, device="cpu", dtype="float8")


def test_bad_requests_are_refused_without_hurting_the_group(model_dir):
    stepper = open_tp_stepper(model_dir, world_size=2, device="cpu", max_positions=16)
    try:
        with pytest.raises(Exception, match="outside the vocabulary"):
            stepper.feed([stepper.vocab_size])
        with pytest.raises(Exception, match="exceed the model's 16 positions"):
            stepper.feed(list(range(17)))
        with pytest.raises(Exception, match="cache holds 0"):
            stepper.truncate(3)
        assert stepper.healthy
        assert stepper.feed([1, 2]).shape == (stepper.vocab_size,)
    finally:
        stepper.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_generator_restarts_a_failed_group_before_its_next_request(model_dir):
    """The daemon keeps one generator per model: after a rank dies, the next request gets a
    fresh group (and a cold cache) instead of an error forever."""
    tokenizer = load_tokenizer(model_dir, resolve_model_source(str(model_dir)).vocab_size)
    stepper = open_tp_stepper(model_dir, world_size=2, device="cpu", step_timeout_s=60)
    generator = StepperGenerator("tp", stepper, tokenizer, 128)
    try:
        prompt = tokenizer.encode("def add(a, b):\n")
        params = SamplingParams(max_new_tokens=12)
        expected = generator.generate_ids(prompt, params)
        os.kill(stepper.rank_pids[1], signal.SIGKILL)
        deadline = time.monotonic() + DETECTION_BOUND_S
        while generator.failure is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert generator.failure is not None and "rank 1" in generator.failure
        assert generator.generate_ids(prompt, params) == expected
        assert generator.failure is None
    finally:
        generator.close()
