"""A real multi-process tensor-parallel group (gloo on CPU) against transformers' CodeGen.

Each world size gets one group, reused for prefill, several decode steps and a prefix-reuse
refeed, all within 1e-5 of CodeGenForCausalLM in float32.
"""

from __future__ import annotations

import numpy as np
import pytest

from codegend.engine.torch.tp_stepper import open_tp_stepper
from tests.engine.torch.test_codegen import CONTINUATION, PROMPT, hf_reference, save_hf_codegen

# 8 heads of 16 dims with 8 rotary dims: world size 8 gives each rank one head and splits the
# checkpoint's 4 qkv blocks; 16 heads of 8 fully rotated dims: 2 heads per rank at 8.
CONFIGS = {
    "8-heads": {"n_head": 8, "n_embd": 128, "rotary_dim": 8, "vocab_size": 201},
    "16-heads": {"n_head": 16, "n_embd": 128, "rotary_dim": 8, "vocab_size": 256},
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    built = {}
    for name, config in CONFIGS.items():
        directory, hf = save_hf_codegen(tmp_path_factory.mktemp(name), **config)
        other = PROMPT[:4] + [77, 78, 79]
        built[name] = (directory, hf_reference(hf, PROMPT, CONTINUATION),
                       hf_reference(hf, other, [])[0], other)
    return built


@pytest.mark.parametrize(("config", "world_size"), [
    ("8-heads", 1), ("8-heads", 2), ("8-heads", 4), ("8-heads", 8), ("16-heads", 8),
])
def test_group_logits_match_transformers(checkpoints, config, world_size):
    directory, (want_prefill, want_steps), want_other, other = checkpoints[config]
    stepper = open_tp_stepper(directory, world_size, device="cpu", step_timeout_s=60)
    try:
        assert stepper.healthy and stepper.failure is None
        assert len(stepper.rank_pids) == world_size
        assert stepper.vocab_size == CONFIGS[config]["vocab_size"]
        logits = stepper.feed(PROMPT)
        assert logits.dtype == np.float32 and logits.shape == (stepper.vocab_size,)
        np.testing.assert_allclose(logits, want_prefill[-1].numpy(), atol=1e-5, rtol=0)
        for i, token in enumerate(CONTINUATION):
            logits = stepper.feed([token])
            np.testing.assert_allclose(logits, want_steps[i].numpy(), atol=1e-5, rtol=0)
        assert stepper.cached_tokens == len(PROMPT) + len(CONTINUATION)
        # Prefix reuse: keep 4 positions on every rank and feed a different tail.
        stepper.truncate(4)
        logits = stepper.feed(other[4:])
        np.testing.assert_allclose(logits, want_other[-1].numpy(), atol=1e-5, rtol=0)
        assert stepper.cached_tokens == len(other)
    finally:
        stepper.close()
    assert not stepper.healthy


@pytest.mark.parametrize(("dtype", "int8"), [("bfloat16", False), ("float32", True)])
def test_reduced_precision_group_stays_close(checkpoints, dtype, int8):
    # The dtype and int8 plumbing through the ranks (the GPU tests cover float16 with NCCL).
    directory, (want_prefill, want_steps), _, _ = checkpoints["8-heads"]
    stepper = open_tp_stepper(directory, 2, device="cpu", dtype=dtype, int8_weights=int8)
    try:
        got = [stepper.feed(PROMPT)] + [stepper.feed([t]) for t in CONTINUATION]
    finally:
        stepper.close()
    want = [want_prefill[-1].numpy()] + [w.numpy() for w in want_steps]
    for mine, theirs in zip(got, want, strict=True):
        error = np.abs(mine - theirs).max()
        assert 0 < error < 0.05 * (theirs.max() - theirs.min())
