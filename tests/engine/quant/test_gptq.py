"""Our GPTQ: MatMulNBits packing is exact, and the error compensation actually compensates."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from codegend.engine.quant.gptq import gptq_codes, pack_matmul_nbits


def _dequantize(codes, scales, zeros, block_size):
    rows = np.arange(codes.shape[0]) // block_size
    return (codes.astype(np.float32) - zeros[rows].astype(np.float32)) * scales[rows]


def _run_matmul_nbits(x, packed, scales, zeros, k, n, block_size):
    import onnxruntime as ort

    node = helper.make_node("MatMulNBits", ["x", "b", "s", "z"], ["y"], domain="com.microsoft",
                            K=k, N=n, bits=4, block_size=block_size)
    graph = helper.make_graph(
        [node], "nbits", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, n])],
        [numpy_helper.from_array(packed, "b"), numpy_helper.from_array(scales, "s"),
         numpy_helper.from_array(zeros, "z")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize("k, block_size, symmetric", [(64, 32, False), (80, 32, False),
                                                      (96, 16, True)])
def test_packed_codes_run_in_onnxruntime_as_the_dequantized_weights(k, block_size, symmetric):
    rng = np.random.default_rng(1)
    n = 24
    weight = rng.normal(size=(k, n)).astype(np.float32)
    codes, scales, zeros = gptq_codes(weight, np.eye(k), block_size, symmetric)
    assert codes.max() <= 15 and scales.shape == (-(-k // block_size), n)
    packed, flat_scales, packed_zeros = pack_matmul_nbits(codes, scales, zeros, block_size)
    x = rng.normal(size=(5, k)).astype(np.float32)
    expected = x @ _dequantize(codes, scales, zeros, block_size)
    actual = _run_matmul_nbits(x, packed, flat_scales, packed_zeros, k, n, block_size)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)


def test_with_correlated_inputs_gptq_has_less_output_error_than_rounding():
    rng = np.random.default_rng(0)
    k, n = 64, 48
    weight = rng.normal(size=(k, n)).astype(np.float32)
    mixing = rng.normal(size=(k, k)) * 0.3 + np.eye(k)
    x = rng.normal(size=(2048, k)) @ mixing  # strongly correlated input channels
    hessian = 2 * x.T @ x / len(x)
    gptq = _dequantize(*gptq_codes(weight, hessian, 32), 32)
    rounded = _dequantize(*gptq_codes(weight, np.eye(k), 32), 32)  # no correlation: plain RTN
    error_gptq = np.square(x @ (gptq - weight)).mean()
    error_rounding = np.square(x @ (rounded - weight)).mean()
    assert error_gptq < 0.8 * error_rounding


def test_gptq_artifact_records_its_calibration(tiny_codegen_dir):
    from codegend.engine.build.pipeline import build_onnx_model
    from codegend.engine.model_source import resolve_model_source

    resolved = resolve_model_source(str(tiny_codegen_dir))
    artifact = build_onnx_model(resolved, "int4-weight-only", options={
        "algorithm": "gptq", "calibration_samples": 4}).artifact
    manifest = artifact.manifest["quantization"]
    assert manifest["algorithm"] == "gptq" and manifest["calibration"]["windows"] == 4
    graph = onnx.load(str(artifact.model_path)).graph
    assert sum(n.op_type == "MatMulNBits" for n in graph.node) == manifest["matmuls_quantized"]
    assert not [n for n in graph.node if n.op_type == "MatMul"
                and n.input[1] in {t.name for t in graph.initializer}]
