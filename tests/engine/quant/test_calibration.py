"""Static INT8 calibration: each method gives its own valid scales; bad corpora are errors."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from codegend.engine.build.pipeline import build_onnx_model
from codegend.engine.errors import CodegendError
from codegend.engine.model_source import resolve_model_source

FAST = {"calibration_samples": 4, "calibration_tokens": 64, "histogram_bins": 256}


@pytest.fixture(scope="module")
def resolved(tiny_codegen_dir):
    return resolve_model_source(str(tiny_codegen_dir))


def activation_quantization(model_path) -> dict[str, tuple[float, int]]:
    """Activation tensor -> (scale, zero point) of the QuantizeLinear that quantizes it."""
    graph = onnx.load(str(model_path)).graph
    constants = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    return {node.input[0]: (float(constants[node.input[1]]), int(constants[node.input[2]]))
            for node in graph.node if node.op_type == "QuantizeLinear"}


@pytest.fixture(scope="module")
def scales_by_method(resolved, tmp_path_factory):
    found = {}
    # Module-scoped, so the per-test cache isolation of conftest.py is not active yet.
    cache = tmp_path_factory.getbasetemp() / "codegend-cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CODEGEND_CACHE_DIR", str(cache))
        for method in ("minmax", "percentile", "entropy"):
            found[method] = _build_and_read(resolved, method)
    return found


def _build_and_read(resolved, method):
    artifact = build_onnx_model(resolved, "static-int8",
                                options={**FAST, "method": method}).artifact
    assert artifact.manifest["quantization"]["method"] == method
    return activation_quantization(artifact.model_path)


def test_each_method_quantizes_the_same_activations_with_valid_parameters(scales_by_method):
    tensors = set(scales_by_method["minmax"])
    assert len(tensors) >= 6  # the inputs of every weight MatMul, at least
    for method, scales in scales_by_method.items():
        assert set(scales) == tensors, method
        for tensor, (scale, zero_point) in scales.items():
            assert np.isfinite(scale) and scale > 0, (method, tensor)
            assert 0 <= zero_point <= 255, (method, tensor)  # uint8 activations


def test_each_method_gives_different_scales(scales_by_method):
    minmax, percentile, entropy = (scales_by_method[m] for m in
                                   ("minmax", "percentile", "entropy"))
    for first, second in ((minmax, percentile), (minmax, entropy), (percentile, entropy)):
        differing = [t for t in first if not np.isclose(first[t][0], second[t][0], rtol=1e-4)]
        assert differing, "two calibration methods produced identical scales"
    # Percentile and entropy clip outliers; MinMax keeps the whole range, so its scales are
    # never the smaller ones.
    for tensor in minmax:
        assert minmax[tensor][0] >= percentile[tensor][0] * (1 - 1e-6)
        assert minmax[tensor][0] >= entropy[tensor][0] * (1 - 1e-6)


def test_asymmetric_activations_use_zero_points_and_symmetric_ones_do_not(resolved,
                                                                          scales_by_method):
    assert any(zp != 128 for _, zp in scales_by_method["minmax"].values())
    symmetric = build_onnx_model(resolved, "static-int8", options={
        **FAST, "activation_symmetric": True}).artifact
    assert {zp for _, zp in activation_quantization(symmetric.model_path).values()} == {128}


def test_manifest_describes_the_calibration_set(resolved, tmp_path):
    corpus = tmp_path / "code"
    corpus.mkdir()
    (corpus / "m.py").write_text("".join(f"def f{i}(x):\n    return x * {i}\n"
                                         for i in range(200)))
    artifact = build_onnx_model(resolved, "static-int8", options={
        **FAST, "calibration_dir": str(corpus)}).artifact
    calibration = artifact.manifest["quantization"]["calibration"]
    assert calibration["source"] == str(corpus)
    assert calibration["files"] == 1
    assert calibration["windows"] == 4 and calibration["tokens_per_window"] == 64


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing", "not a directory"),
    (lambda d: d, r"no \.py/.* files found"),
    (lambda d: (d / "bad.py").write_bytes(b"\xff\xfe\x00binary" * 50) and d,
     "no held-out file has 64 tokens of readable code"),
    (lambda d: (d / "short.py").write_text("x = 1\n") and d, "64 tokens"),
])
def test_empty_or_unreadable_calibration_directory_is_a_clear_error(resolved, tmp_path,
                                                                    make, message):
    directory = make(tmp_path)
    with pytest.raises(CodegendError, match=message) as caught:
        build_onnx_model(resolved, "static-int8",
                         options={**FAST, "calibration_dir": str(directory)})
    assert "calibration" in str(caught.value)


def test_entropy_with_too_few_bins_is_refused_not_silently_minmax(resolved):
    with pytest.raises(CodegendError, match="histogram_bins must exceed 128"):
        build_onnx_model(resolved, "static-int8",
                         options={**FAST, "method": "entropy", "histogram_bins": 128})
