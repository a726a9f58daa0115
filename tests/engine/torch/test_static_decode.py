"""The static one-token decode step, eager and torch.compile'd, on the CPU.

The static step (the position in a tensor, the whole KV cache attended under a mask) is what
torch.compile traces once and CUDA graphs replay on a GPU. Here it must equal transformers,
the compiled step must equal the uncompiled one token for token, in process and in a real
2-rank gloo group whose all-reduces are traced into the compiled graph.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from codegend.engine.torch.codegen import load_codegen
from codegend.engine.torch.static_decode import StaticDecoder
from codegend.engine.torch.tp import apply_tp
from codegend.engine.torch.tp_stepper import open_tp_stepper
from tests.engine.torch.test_codegen import CONTINUATION, PROMPT, hf_reference, save_hf_codegen

needs_compiler = pytest.mark.skipif(
    not any(shutil.which(cc) for cc in ("g++", "c++", "clang++")),
    reason="torch.compile on the CPU needs a C++ compiler")
GREEDY_STEPS = 12


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_hf_codegen(tmp_path_factory.mktemp("static"), n_head=8, n_embd=64)


def _model(directory):
    model = apply_tp(load_codegen(directory), 0, 1)
    model.setup_caches(64)
    return model


def _greedy(feed_prompt, decode, steps: int = GREEDY_STEPS) -> tuple[list[int], np.ndarray]:
    """Greedy tokens after the prompt and the logits of every step, prefill first."""
    logits = feed_prompt()
    tokens, rows = [], [logits]
    for i in range(steps):
        tokens.append(int(logits.argmax()))
        logits = decode(tokens[-1], len(PROMPT) + i)
        rows.append(logits)
    return tokens, np.stack(rows)


def test_static_step_matches_transformers_and_the_eager_step(checkpoint):
    directory, hf = checkpoint
    _, want_steps = hf_reference(hf, PROMPT, CONTINUATION)
    model = _model(directory)
    decoder = StaticDecoder(model, compile=False)
    with torch.inference_mode():
        model(torch.tensor([PROMPT]), 0)
        for i, token in enumerate(CONTINUATION):
            got = decoder(token, len(PROMPT) + i)
            torch.testing.assert_close(got, want_steps[i], atol=1e-5, rtol=0)
        # Prefix reuse: an eager refeed after a shorter start, then static steps again.
        other = PROMPT[:4] + [77, 78, 79]
        want, _ = hf_reference(hf, other + [5], [])
        model(torch.tensor([other[4:]]), 4)
        torch.testing.assert_close(decoder(5, len(other)), want[-1], atol=1e-5, rtol=0)


@needs_compiler
def test_compiled_step_equals_the_uncompiled_one_token_for_token(checkpoint):
    directory, _ = checkpoint
    runs = []
    for compile in (False, True):
        model = _model(directory)
        decoder = StaticDecoder(model, compile=compile)
        with torch.inference_mode():
            decoder.warm_up()
            assert decoder.mode == ("compiled" if compile else "eager")
            runs.append(_greedy(lambda m=model: m(torch.tensor([PROMPT]), 0).numpy(),
                                lambda t, p, d=decoder: d(t, p).clone().numpy()))
    (want_tokens, want_rows), (got_tokens, got_rows) = runs
    assert got_tokens == want_tokens
    np.testing.assert_allclose(got_rows, want_rows, atol=1e-5, rtol=0)


@needs_compiler
def test_compiled_tp_group_with_gloo_equals_the_eager_group_token_for_token(checkpoint):
    directory, _ = checkpoint
    runs = []
    for compile_decode in (False, True):
        stepper = open_tp_stepper(directory, 2, device="cpu", compile_decode=compile_decode,
                                  threads_per_rank=1, step_timeout_s=120)
        try:
            assert stepper.decode_mode == ("compiled" if compile_decode else "eager")
            tokens, rows = _greedy(lambda s=stepper: s.feed(PROMPT),
                                   lambda t, _p, s=stepper: s.feed([t]))
            stepper.truncate(4)  # prefix reuse: an eager refeed, then compiled steps again
            refed = [stepper.feed([77, 78])] + [stepper.feed([t]) for t in tokens[:4]]
        finally:
            stepper.close()
        runs.append((tokens, np.concatenate([rows, np.stack(refed)])))
    (want_tokens, want_rows), (got_tokens, got_rows) = runs
    assert got_tokens == want_tokens
    np.testing.assert_allclose(got_rows, want_rows, atol=1e-5, rtol=0)
