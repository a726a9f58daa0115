"""INT4 weight-only details: compute precision, algorithms, and why GPTQ is not offered."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from codegend.engine.build.pipeline import build_onnx_model
from codegend.engine.model_source import resolve_model_source


@pytest.fixture(scope="module")
def resolved(tiny_codegen_dir):
    return resolve_model_source(str(tiny_codegen_dir))


def nbits_attributes(model_path) -> list[dict]:
    graph = onnx.load(str(model_path)).graph
    return [{a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            for node in graph.node if node.op_type == "MatMulNBits"]


@pytest.mark.parametrize("level", [0, 4])
def test_accuracy_level_is_set_on_every_quantized_matmul(resolved, level):
    artifact = build_onnx_model(resolved, "int4-weight-only",
                                options={"accuracy_level": level}).artifact
    nodes = nbits_attributes(artifact.model_path)
    assert len(nodes) == artifact.manifest["quantization"]["matmuls_quantized"] >= 5
    assert {n.get("accuracy_level", 0) for n in nodes} == {level}
    assert {n["bits"] for n in nodes} == {4}


def test_algorithms_choose_different_weights(resolved):
    from codegend.engine.quant.quality import onnx_logits

    sequence = [list(range(1, 60))]
    logits = {}
    for algorithm in ("rtn", "hqq", "kquant", "gptq"):
        artifact = build_onnx_model(resolved, "int4-weight-only",
                                    options={"algorithm": algorithm}).artifact
        assert artifact.manifest["quantization"]["algorithm"] == algorithm
        logits[algorithm] = onnx_logits(artifact.model_path, sequence, resolved.max_positions)[0]
    for a, b in (("rtn", "hqq"), ("rtn", "kquant"), ("hqq", "kquant"), ("rtn", "gptq")):
        assert np.abs(logits[a] - logits[b]).max() > 1e-3, f"{a} and {b} gave the same graph"


def test_onnxruntime_gptq_does_not_compensate_rounding_error():
    """Why engine/quant/gptq.py exists: the GPTQ ONNX Runtime vendors returns the same weights
    whatever the activations' Hessian says. If this starts failing, ONNX Runtime has fixed
    it, and ours could give way to it."""
    from onnxruntime.quantization.neural_compressor.weight_only import gptq

    rng = np.random.default_rng(0)
    weight = rng.standard_normal((64, 32)).astype(np.float32)
    activations = rng.standard_normal((512, 64))
    activations[:, 1] = 0.9 * activations[:, 0] + 0.1 * activations[:, 1]  # correlated inputs
    hessian = 2 * activations.T @ activations / len(activations)
    informed = gptq(weight.copy(), hessian.copy(), group_size=32)
    blind = gptq(weight.copy(), np.eye(64) * np.diag(hessian).mean(), group_size=32)
    np.testing.assert_array_equal(informed, blind)


def test_token_embedding_is_int4_and_the_rotary_caches_stay_float(resolved):
    artifact = build_onnx_model(resolved, "int4-weight-only").artifact
    graph = onnx.load(str(artifact.model_path)).graph
    block_quantized = [n for n in graph.node if n.op_type == "GatherBlockQuantized"]
    assert [n.input[1] for n in block_quantized] == ["input_ids"]
    rotary = {t.name: t.data_type for t in graph.initializer if "rotary" in t.name}
    assert rotary == {"codegend/rotary_cos": onnx.TensorProto.FLOAT,
                      "codegend/rotary_sin": onnx.TensorProto.FLOAT}
    assert artifact.manifest["quantization"]["embedding"] == "int4"
    floating = build_onnx_model(resolved, "int4-weight-only",
                                options={"embedding": "float"}).artifact
    assert floating.manifest["size_bytes"] > artifact.manifest["size_bytes"]
