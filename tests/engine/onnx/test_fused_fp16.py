"""The fp16 GPU graph with fused attention, checked on the CPU provider (no GPU needed).

GroupQueryAttention runs in fp16 on the CPU provider too, so the numerics of the graph the
GPU serves are checked here against torch in float32: through a prompt, decode steps, chunks
on top of a past, truncation for prefix reuse, growth of the shared cache, and the static
decode step that the CUDA graph captures (run uncaptured here, it must give exactly the
logits of the exact-shape step).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from codegend.engine.build.pipeline import build_onnx_model
from codegend.engine.model_source import resolve_model_source
from codegend.engine.onnx.graph_files import read_metadata
from codegend.engine.onnx.stepper import (
    INITIAL_CACHE_POSITIONS,
    OnnxStepper,
    captures_cuda_graphs,
    create_session,
)
from codegend.engine.onnx.validate import FP16_RELATIVE_TOLERANCE
from codegend.engine.torch.reference_stepper import load_torch_model
from tests.tiny_models import build_tiny_codegen

# fp16 against float32 torch, relative to the largest logit: the tiny model measures ~1e-3.
RELATIVE_TOLERANCE = 5e-3


@pytest.fixture(scope="module")
def fp16_model(tmp_path_factory):
    """A model with room to grow its cache past the first allocation, built as for a GPU."""
    directory = build_tiny_codegen(tmp_path_factory.mktemp("fp16"), n_positions=512)
    resolved = resolve_model_source(str(directory))
    result = build_onnx_model(resolved, "none", for_gpu=True)
    return resolved, load_torch_model(resolved), result.artifact


def _stepper(artifact, resolved, **kwargs) -> OnnxStepper:
    return OnnxStepper(create_session(artifact.model_path, "cpu", threads=1),
                       resolved.max_positions, **kwargs)


def _reference(torch_model, ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        return torch_model(torch.tensor([ids])).logits[0]


def test_fp16_stage_is_fused_in_half_precision_and_records_its_validation(fp16_model):
    resolved, _, artifact = fp16_model
    manifest = artifact.manifest
    assert manifest["stage"] == "optimized-fp16"
    assert manifest["recipe"]["attention"] == "GroupQueryAttention"
    assert manifest["attention_fused_layers"] == 2
    assert manifest["fused_operators"]["GroupQueryAttention"] == 2
    validation = manifest["validation"]
    for figure in ("prefill_max_abs_diff", "decode_max_abs_diff", "truncated_max_abs_diff"):
        assert 0 < validation[figure] <= validation["tolerance"], figure
    assert validation["tolerance"] == pytest.approx(
        FP16_RELATIVE_TOLERANCE * max(1.0, validation["reference_max_abs_logit"]))
    assert validation["provider"] in ("CPUExecutionProvider", "CUDAExecutionProvider")
    graph = onnx.load(str(artifact.model_path)).graph
    # The cache goes in and out in fp16, straight into the kernel: no Cast of the past left.
    caches = [v for v in (*graph.input, *graph.output)
              if v.name.startswith(("past_key_values.", "present."))]
    assert len(caches) == 8
    assert {v.type.tensor_type.elem_type for v in caches} == {onnx.TensorProto.FLOAT16}
    assert not [n for n in graph.node if n.op_type == "Cast"
                and any(i.startswith("past_key_values.") for i in n.input)]
    assert read_metadata(artifact.model_path) == {"codegend.kv_cache": "shared-buffer"}


def test_fp16_graph_matches_torch_through_chunks_truncation_growth_and_restore(fp16_model):
    resolved, torch_model, artifact = fp16_model
    ids = np.random.default_rng(3).integers(0, resolved.vocab_size, 400).tolist()
    reference = _reference(torch_model, ids)
    tolerance = RELATIVE_TOLERANCE * float(reference.abs().max())
    stepper = _stepper(artifact, resolved)
    assert stepper._shares_buffer and stepper._kv_dtype == "float16"
    assert stepper.decode_graph is None and not captures_cuda_graphs(stepper.session)

    def fed(start: int, end: int) -> float:
        got = torch.from_numpy(stepper.feed_all(ids[start:end]))
        return float((got - reference[start:end]).abs().max())

    assert max(fed(0, 100), fed(100, 101), fed(101, 102), fed(102, 150)) < tolerance
    saved = stepper.snapshot()
    stepper.truncate(120)
    assert fed(120, 121) < tolerance
    assert fed(121, INITIAL_CACHE_POSITIONS + 100) < tolerance  # grows while holding 121
    assert stepper._past[0].shape[2] > INITIAL_CACHE_POSITIONS
    stepper.restore(saved)
    assert fed(150, 160) < tolerance


def test_static_decode_step_equals_the_exact_one_token_for_token(fp16_model):
    resolved, torch_model, artifact = fp16_model
    exact = _stepper(artifact, resolved)
    static = _stepper(artifact, resolved, static_decode=True)
    assert static.decode_graph is not None and not static.decode_graph.capture
    assert static._past[0].shape[2] == resolved.max_positions  # bound once, never moves
    prompt = np.random.default_rng(5).integers(0, resolved.vocab_size, 40).tolist()

    def greedy(stepper: OnnxStepper, start: list[int], steps: int) -> tuple[list, list]:
        logits = stepper.feed_all(start)[-1]
        tokens, rows = [], [logits]
        for _ in range(steps):
            tokens.append(int(logits.argmax()))
            logits = stepper.feed_all([tokens[-1]])[-1]
            rows.append(logits)
        return tokens, rows

    want_tokens, want_rows = greedy(exact, prompt, 24)
    got_tokens, got_rows = greedy(static, prompt, 24)
    assert got_tokens == want_tokens
    assert all(np.array_equal(g, w) for g, w in zip(got_rows, want_rows, strict=True))
    assert static.decode_graph.steps == 24
    # Prefix reuse and a restored snapshot go through the same bound buffers.
    saved = static.snapshot()
    exact.truncate(30)
    static.truncate(30)
    want_tokens_again, want_rows = greedy(exact, prompt[30:33], 8)
    got_tokens_again, got_rows = greedy(static, prompt[30:33], 8)
    assert got_tokens_again == want_tokens_again
    assert all(np.array_equal(g, w) for g, w in zip(got_rows, want_rows, strict=True))
    static.restore(saved)
    assert static.cached_tokens == len(prompt) + len(want_tokens)
    ids = prompt + want_tokens + [7]
    reference = _reference(torch_model, ids)
    got = torch.from_numpy(static.feed_all([7]))
    assert float((got - reference[-1:]).abs().max()) < \
        RELATIVE_TOLERANCE * float(reference.abs().max())
