"""The fused fp16 graph on the CUDA provider, and its decode step replayed as a CUDA graph.

Skipped without a CUDA GPU and onnxruntime-gpu's CUDA provider. The graph must equal torch
within fp16 tolerance through prefill, decode, truncation and growth; the captured decode
must give the uncaptured decode's tokens, token for token; and the loader must pick it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from codegend.engine.build.pipeline import build_onnx_model
from codegend.engine.devices import cuda_device_count, onnxruntime_has_cuda
from codegend.engine.loader import load_generator
from codegend.engine.model_source import resolve_model_source
from codegend.engine.model_spec import ModelSpec
from codegend.engine.onnx.stepper import (
    INITIAL_CACHE_POSITIONS,
    OnnxStepper,
    captures_cuda_graphs,
    create_session,
)
from codegend.engine.torch.reference_stepper import load_torch_model
from codegend.engine.types import SamplingParams
from tests.tiny_models import build_tiny_codegen

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(cuda_device_count() == 0 or not onnxruntime_has_cuda(),
                       reason="needs a CUDA GPU and onnxruntime-gpu's CUDA provider"),
]
RELATIVE_TOLERANCE = 1e-2  # of the largest reference logit: fp16 kernels against fp32 torch


@pytest.fixture(scope="module")
def fp16_model(tmp_path_factory):
    directory = build_tiny_codegen(tmp_path_factory.mktemp("fp16-gpu"), n_positions=512)
    resolved = resolve_model_source(str(directory))
    artifact = build_onnx_model(resolved, "none", for_gpu=True).artifact
    return resolved, load_torch_model(resolved), artifact


def _stepper(artifact, resolved, cuda_graph: bool) -> OnnxStepper:
    session = create_session(artifact.model_path, "cuda", cuda_graph=cuda_graph)
    assert session.get_providers()[0] == "CUDAExecutionProvider"
    return OnnxStepper(session, resolved.max_positions)


def test_the_fp16_stage_was_validated_on_the_cuda_provider(fp16_model):
    validation = fp16_model[2].manifest["validation"]
    assert validation["provider"] == "CUDAExecutionProvider"
    assert validation["decode_max_abs_diff"] <= validation["tolerance"]


def test_fused_graph_on_cuda_matches_torch_through_truncation_and_growth(fp16_model):
    resolved, torch_model, artifact = fp16_model
    ids = np.random.default_rng(3).integers(0, resolved.vocab_size, 400).tolist()
    with torch.inference_mode():
        reference = torch_model(torch.tensor([ids])).logits[0]
    tolerance = RELATIVE_TOLERANCE * float(reference.abs().max())
    stepper = _stepper(artifact, resolved, cuda_graph=False)  # uncaptured: the cache grows

    def fed(start: int, end: int) -> float:
        return float((stepper.forward(ids[start:end]).cpu() - reference[start:end]).abs().max())

    assert max(fed(0, 100), fed(100, 101), fed(101, 102), fed(102, 150)) < tolerance
    saved = stepper.snapshot()
    stepper.truncate(120)
    assert fed(120, 121) < tolerance
    assert fed(121, INITIAL_CACHE_POSITIONS + 100) < tolerance
    assert stepper._past[0].shape[2] > INITIAL_CACHE_POSITIONS
    stepper.restore(saved)
    assert fed(150, 160) < tolerance


def test_cuda_graph_replay_equals_uncaptured_decode_token_for_token(fp16_model):
    resolved, _, artifact = fp16_model
    captured = _stepper(artifact, resolved, cuda_graph=True)
    plain = _stepper(artifact, resolved, cuda_graph=False)
    assert captures_cuda_graphs(captured.session), "ONNX Runtime refused the CUDA graph"
    assert captured.decode_graph is not None and captured.decode_graph.capture
    assert plain.decode_graph is None
    prompt = np.random.default_rng(5).integers(0, resolved.vocab_size, 40).tolist()

    def greedy(stepper: OnnxStepper, start: list[int], steps: int):
        logits = stepper.forward(start)[-1].cpu()
        tokens, rows = [], [logits]
        for _ in range(steps):
            tokens.append(int(logits.argmax()))
            logits = stepper.forward([tokens[-1]])[-1].cpu()
            rows.append(logits)
        return tokens, torch.stack(rows)

    for start, steps in ((prompt, 32), (prompt[30:34], 16)):  # then prefix reuse at 30
        want_tokens, want_rows = greedy(plain, start, steps)
        got_tokens, got_rows = greedy(captured, start, steps)
        assert got_tokens == want_tokens
        scale = float(want_rows.abs().max())
        assert float((got_rows - want_rows).abs().max()) < 1e-2 * scale
        plain.truncate(30)
        captured.truncate(30)
    assert captured.decode_graph.steps == 48


def test_the_loader_decodes_the_fused_graph_through_a_cuda_graph(fp16_model):
    resolved = fp16_model[0]
    generator = load_generator(ModelSpec(source=str(resolved.path), device="cuda"))
    try:
        stepper = generator.stepper
        assert generator.details["stage"] == "optimized-fp16"
        assert captures_cuda_graphs(stepper.session) and stepper.decode_graph is not None
        prompt = generator.tokenizer.encode("def add(a, b):\n")
        assert len(generator.generate_ids(prompt, SamplingParams(max_new_tokens=8))) >= 1
        assert stepper.decode_graph.steps >= 1
    finally:
        generator.close()
