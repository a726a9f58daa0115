"""Per-MatMul sensitivity: constructed SQNR values, and the ranking on a tiny model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from codegend.engine.build.pipeline import build_onnx_model
from codegend.engine.eval.sensitivity import (
    MAX_SQNR_DB,
    added_sqnr_db,
    matmul_sensitivity,
    sqnr_db,
)
from codegend.engine.model_source import resolve_model_source


def test_sqnr_of_constructed_signals():
    signal = np.random.default_rng(0).normal(size=1000).astype(np.float32)
    assert sqnr_db(signal, signal.copy()) == MAX_SQNR_DB
    assert sqnr_db(signal, signal * 1.1) == pytest.approx(20.0, abs=1e-4)  # noise = 0.1 signal
    assert added_sqnr_db(20.0, 20.0) == MAX_SQNR_DB  # nothing added
    assert added_sqnr_db(MAX_SQNR_DB, 20.0) == pytest.approx(20.0, abs=1e-6)
    assert added_sqnr_db(30.0, 20.0) == pytest.approx(-10 * math.log10(0.01 - 0.001))


def test_keeping_the_most_hurt_matmul_in_float_removes_its_own_noise(tiny_codegen_dir):
    from codegend.engine.tokenizer import load_tokenizer

    resolved = resolve_model_source(str(tiny_codegen_dir))
    tokenizer = load_tokenizer(resolved.path, resolved.vocab_size)
    text = "def add(a, b):\n    return a + b\n\nclass Point:\n    pass\n" * 20
    sequences = [tokenizer.encode(text)[:96]] * 2
    reference = build_onnx_model(resolved, "none").artifact.model_path
    options = {"calibration_samples": 4}
    quantized = build_onnx_model(resolved, "static-int8", options=options).artifact.model_path
    ranked = matmul_sensitivity(reference, quantized, sequences)
    assert len(ranked) >= 9  # qkv, out_proj, fc_in, fc_out per layer, and lm_head
    assert [r.node_sqnr_db for r in ranked] == sorted(r.node_sqnr_db for r in ranked)
    worst = ranked[0]
    assert worst.node_sqnr_db < 60  # 8-bit noise, far below float round-off

    spared = build_onnx_model(resolved, "static-int8", options={
        **options, "exclude_nodes": [worst.node]}).artifact.model_path
    again = {r.node: r for r in matmul_sensitivity(reference, spared, sequences)}
    assert again[worst.node].node_sqnr_db > worst.node_sqnr_db + 10
