"""Numerical checks of an ONNX graph against the torch model it came from.

Each stage of the pipeline is compared on a prefill, on a decode step that uses the past
key/values, and on a refeed after truncating the cache (what prefix reuse does); a
difference above the tolerance fails the build instead of shipping a model that silently
computes something else. The fp16 graph is held to a tolerance relative to the size of the
logits, since half precision cannot match float32 to an absolute 1e-3.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codegend.engine.errors import ArtifactError

PREFILL_TOKENS = 12
KEPT_TOKENS = 6  # the truncation check keeps this many cached positions ...
REFED_TOKENS = 3  # ... and feeds this many different ones after them
FP16_RELATIVE_TOLERANCE = 2e-2  # of the largest reference logit; a real bug is O(1) of it


def logit_differences(model_path: Path, torch_model, vocab_size: int, seed: int = 0,
                      device: str = "cpu") -> dict:
    """Max absolute logit difference, ONNX vs torch, on a prefill, one decode step and a
    refeed after truncation; plus the largest reference logit and the provider that ran.

    device: "cpu", or "auto" to run on the CUDA provider where one is usable.
    """
    import torch

    from codegend.engine.onnx.stepper import OnnxStepper, create_session

    rng = np.random.default_rng(seed)
    prompt = rng.integers(0, vocab_size, PREFILL_TOKENS).tolist()
    next_token = int(rng.integers(0, vocab_size))
    refed = prompt[:KEPT_TOKENS] + rng.integers(0, vocab_size, REFED_TOKENS).tolist()
    with torch.inference_mode():
        first = torch_model(torch.tensor([prompt]), use_cache=True)
        second = torch_model(
            torch.tensor([[next_token]]),
            past_key_values=first.past_key_values,
            position_ids=torch.tensor([[PREFILL_TOKENS]]),
            use_cache=True,
        )
        third = torch_model(torch.tensor([refed]))
    max_positions = int(getattr(torch_model.config, "n_positions", 2048))
    session = create_session(model_path, device, threads=1, cuda_graph=False)
    stepper = OnnxStepper(session, max_positions)
    onnx_prefill = torch.from_numpy(stepper.feed_all(prompt))
    onnx_decode = torch.from_numpy(stepper.feed_all([next_token]))
    stepper.truncate(KEPT_TOKENS)
    onnx_refed = torch.from_numpy(stepper.feed_all(refed[KEPT_TOKENS:]))
    provider = session.get_providers()[0]
    stepper.close()
    return {
        "prefill_max_abs_diff": float((onnx_prefill - first.logits[0]).abs().max()),
        "decode_max_abs_diff": float((onnx_decode - second.logits[0]).abs().max()),
        "truncated_max_abs_diff": float(
            (onnx_refed - third.logits[0, KEPT_TOKENS:]).abs().max()),
        "reference_max_abs_logit": float(first.logits.abs().max()),
        "provider": provider,
    }


def require_within(diffs: dict, tolerance: float, stage: str, model_path: Path) -> dict:
    """``diffs`` plus the tolerance; an ArtifactError when a ``*_diff`` figure exceeds it."""
    worst = max(value for key, value in diffs.items() if key.endswith("_diff"))
    if not worst <= tolerance:  # also catches NaN
        raise ArtifactError(
            f"{model_path}: the {stage} graph differs from the torch model by {worst:.3g} "
            f"(tolerance {tolerance:g}); refusing to use it"
        )
    return {**diffs, "tolerance": tolerance}


def fp16_tolerance(diffs: dict) -> float:
    """The absolute tolerance of an fp16 graph: relative to the largest reference logit."""
    return FP16_RELATIVE_TOLERANCE * max(1.0, diffs["reference_max_abs_logit"])
