"""Numerical checks of an ONNX graph against the torch model it came from.

Each stage of the pipeline is compared on a prefill and on a decode step that uses the past
key/values; a difference above the tolerance fails the build instead of shipping a model
that silently computes something else.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codegend.engine.errors import ArtifactError

PREFILL_TOKENS = 12


def logit_differences(model_path: Path, torch_model, vocab_size: int, seed: int = 0) -> dict:
    """Max absolute logit difference, ONNX vs torch, on a prefill and one decode step."""
    import torch

    from codegend.engine.onnx.stepper import OnnxStepper, create_session

    rng = np.random.default_rng(seed)
    prompt = rng.integers(0, vocab_size, PREFILL_TOKENS).tolist()
    next_token = int(rng.integers(0, vocab_size))
    with torch.inference_mode():
        first = torch_model(torch.tensor([prompt]), use_cache=True)
        second = torch_model(
            torch.tensor([[next_token]]),
            past_key_values=first.past_key_values,
            position_ids=torch.tensor([[PREFILL_TOKENS]]),
            use_cache=True,
        )
    max_positions = int(getattr(torch_model.config, "n_positions", 2048))
    stepper = OnnxStepper(create_session(model_path, "cpu", threads=1), max_positions)
    onnx_prefill = stepper.forward(prompt).float()
    onnx_decode = stepper.forward([next_token]).float()
    stepper.close()
    return {
        "prefill_max_abs_diff": float((onnx_prefill - first.logits[0]).abs().max()),
        "decode_max_abs_diff": float((onnx_decode - second.logits[0]).abs().max()),
    }


def require_within(diffs: dict, tolerance: float, stage: str, model_path: Path) -> dict:
    worst = max(diffs.values())
    if not worst <= tolerance:  # also catches NaN
        raise ArtifactError(
            f"{model_path}: the {stage} graph differs from the torch model by {worst:.3g} "
            f"(tolerance {tolerance:g}); refusing to use it"
        )
    return {**diffs, "tolerance": tolerance}
