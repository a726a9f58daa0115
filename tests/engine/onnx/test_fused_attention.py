"""CodeGen attention fused into GroupQueryAttention over a KV cache updated in place.

The optimize stage validates one prefill and one decode step; these tests drive the shared
cache through everything the generation loop does to it: chunked feeds on top of a past,
truncation for prefix reuse, growing past its first allocation, snapshot and restore.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from codegend.engine.build.pipeline import build_onnx_model
from codegend.engine.model_source import resolve_model_source
from codegend.engine.onnx.fuse_attention import (
    AttentionShape,
    fuse_rotary_attention,
    rotary_cache_width,
)
from codegend.engine.onnx.stepper import INITIAL_CACHE_POSITIONS, OnnxStepper, create_session
from codegend.engine.torch.reference_stepper import load_torch_model
from tests.tiny_models import build_tiny_codegen

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def long_model(tmp_path_factory):
    """Room for more positions than the shared cache first allocates, so it must grow."""
    directory = build_tiny_codegen(tmp_path_factory.mktemp("long"), n_positions=512,
                                   rotary_dim=8)
    resolved = resolve_model_source(str(directory))
    return resolved, load_torch_model(resolved)


@pytest.fixture(scope="module")
def resolved_tiny(tiny_codegen_dir):
    return resolve_model_source(str(tiny_codegen_dir))


def _stepper(model_path, max_positions) -> OnnxStepper:
    return OnnxStepper(create_session(model_path, "cpu", threads=1), max_positions)


def _reference_logits(torch_model, token_ids) -> torch.Tensor:
    with torch.inference_mode():
        return torch_model(torch.tensor([token_ids])).logits[0]


def test_shared_cache_matches_torch_through_chunks_truncation_growth_and_restore(long_model):
    resolved, torch_model = long_model
    graph = build_onnx_model(resolved, "none").artifact.model_path
    ids = np.random.default_rng(3).integers(0, resolved.vocab_size, 400).tolist()
    reference = _reference_logits(torch_model, ids)
    stepper = _stepper(graph, resolved.max_positions)
    assert stepper._shares_buffer

    def fed(start: int, end: int) -> float:
        got = torch.from_numpy(stepper.feed_all(ids[start:end]))
        return float((got - reference[start:end]).abs().max())

    # A prompt, single decode steps, then a chunk on top of the past.
    assert max(fed(0, 100), fed(100, 101), fed(101, 102), fed(102, 150)) < TOLERANCE
    saved = stepper.snapshot()
    # Prefix reuse: drop the tail and feed a different continuation's positions again,
    # past the first allocation, so the cache grows while holding 120 positions.
    stepper.truncate(120)
    assert fed(120, 121) < TOLERANCE
    assert fed(121, INITIAL_CACHE_POSITIONS + 100) < TOLERANCE
    assert stepper._past[0].shape[2] > INITIAL_CACHE_POSITIONS
    # The snapshot taken at 150 positions survives the in-place writes made since.
    stepper.restore(saved)
    assert stepper.cached_tokens == 150
    assert fed(150, 160) < TOLERANCE


def test_different_documents_interleaved_keep_their_own_cache(long_model):
    resolved, torch_model = long_model
    graph = build_onnx_model(resolved, "none").artifact.model_path
    rng = np.random.default_rng(4)
    first, second = (rng.integers(0, resolved.vocab_size, 60).tolist() for _ in range(2))
    stepper = _stepper(graph, resolved.max_positions)
    stepper.forward(first[:50])
    first_cache = stepper.snapshot()
    stepper.truncate(0)
    stepper.forward(second[:50])
    second_cache = stepper.snapshot()
    stepper.restore(first_cache)
    got = torch.from_numpy(stepper.feed_all(first[50:]))
    assert float((got - _reference_logits(torch_model, first)[50:]).abs().max()) < TOLERANCE
    stepper.restore(second_cache)
    got = torch.from_numpy(stepper.feed_all(second[50:]))
    assert float((got - _reference_logits(torch_model, second)[50:]).abs().max()) < TOLERANCE


def test_every_quantization_recipe_keeps_the_fused_attention_and_shared_cache(resolved_tiny):
    recipes = {"dynamic-int8": {}, "static-int8": {"calibration_samples": 4},
               "int4-weight-only": {}}
    for recipe, options in recipes.items():
        model_path = build_onnx_model(resolved_tiny, recipe, options=options).artifact.model_path
        ops = {node.op_type for node in onnx.load(str(model_path)).graph.node}
        assert "GroupQueryAttention" in ops, recipe
        assert _stepper(model_path, resolved_tiny.max_positions)._shares_buffer, recipe


def test_heads_too_small_for_the_kernel_are_left_as_exported(tmp_path):
    # head_dim 8: the kernel's rotary cache needs 8 columns, more than head_dim / 2.
    assert rotary_cache_width(rotary_dim=8, head_dim=8) is None
    directory = build_tiny_codegen(tmp_path / "narrow", n_embd=32, n_head=4, rotary_dim=4)
    resolved = resolve_model_source(str(directory))
    result = build_onnx_model(resolved, "none")
    assert result.artifact.manifest["attention_fused_layers"] == 0
    stepper = _stepper(result.artifact.model_path, resolved.max_positions)
    assert not stepper._shares_buffer
    ids = list(range(1, 20))
    torch_model = load_torch_model(resolved)
    got = torch.from_numpy(np.concatenate([stepper.feed_all(ids[:10]),
                                           stepper.feed_all(ids[10:])]))
    assert float((got - _reference_logits(torch_model, ids)).abs().max()) < TOLERANCE


def test_a_graph_without_the_exported_layout_is_untouched(resolved_tiny):
    fp32 = build_onnx_model(resolved_tiny, "none").stage("fp32").model_path
    model = onnx.load(str(fp32))
    for node in model.graph.node:  # as if a future exporter named the projections otherwise
        node.name = node.name.replace("qkv_proj", "query_key_value")
    before = model.SerializeToString()
    shape = AttentionShape(layers=2, heads=4, head_dim=16, rotary_dim=8, max_positions=256)
    assert fuse_rotary_attention(model, shape) == 0
    assert model.SerializeToString() == before
