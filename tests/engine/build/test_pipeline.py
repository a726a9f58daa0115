"""The ONNX pipeline on a tiny CodeGen: numerics against torch, manifests, the cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from codegend.engine.build.pipeline import build_onnx_model
from codegend.engine.model_source import resolve_model_source
from codegend.engine.onnx.validate import logit_differences
from codegend.engine.torch.reference_stepper import load_torch_model


@pytest.fixture(scope="module")
def resolved(tiny_codegen_dir):
    return resolve_model_source(str(tiny_codegen_dir))


@pytest.fixture(scope="module")
def torch_model(resolved):
    return load_torch_model(resolved)


def test_fp32_and_optimized_graphs_match_torch_on_prefill_and_decode(resolved, torch_model):
    result = build_onnx_model(resolved, "none")
    assert [a.manifest["stage"] for a in result.stages] == ["fp32", "optimized"]
    for model_path in (result.stage("fp32").model_path, result.artifact.model_path):
        diffs = logit_differences(model_path, torch_model, resolved.vocab_size, seed=7)
        assert diffs["prefill_max_abs_diff"] < 1e-4, model_path
        assert diffs["decode_max_abs_diff"] < 1e-4, model_path


def test_optimized_manifest_records_fusions_and_validation(resolved):
    manifest = build_onnx_model(resolved, "none").artifact.manifest
    # CodeGen under the gpt2 optimizer: SkipLayerNorm and FastGelu fuse, attention does not;
    # our own pass then puts every layer's attention into GroupQueryAttention.
    assert manifest["fused_operators"].get("SkipLayerNormalization", 0) >= 1
    assert manifest["fused_operators"].get("FastGelu", 0) >= 1
    assert "Attention" not in manifest["fused_operators"]
    assert manifest["fused_operators"]["GroupQueryAttention"] == 2
    assert manifest["attention_fused_layers"] == 2
    assert manifest["validation"]["prefill_max_abs_diff"] < manifest["validation"]["tolerance"]
    assert manifest["weights_sha256"] and manifest["versions"]["onnxruntime-gpu"]


def test_int8_manifest_records_quality_against_fp32(resolved):
    result = build_onnx_model(resolved, "dynamic-int8")
    manifest = result.artifact.manifest
    quality = manifest["quality_vs_fp32"]
    assert manifest["quantization"] == {"per_channel": True, "weight_type": "int8",
                                        "weight_symmetric": True}
    assert quality["positions"] > 100
    assert 0.5 < quality["top1_agreement"] <= 1.0
    assert 0.9 < quality["perplexity_ratio"] < 1.2
    assert manifest["size_bytes"] > 0


def test_second_build_finds_every_stage_and_builds_nothing(resolved):
    build_onnx_model(resolved, "dynamic-int8")
    again = build_onnx_model(resolved, "dynamic-int8")
    assert again.built == ()


def test_two_concurrent_exports_both_succeed_and_leave_one_artifact(tmp_path, tiny_codegen_dir):
    cache = tmp_path / "cache"
    script = (
        "import json, sys\n"
        "from codegend.engine.model_source import resolve_model_source\n"
        "from codegend.engine.build.pipeline import build_onnx_model\n"
        "r = build_onnx_model(resolve_model_source(sys.argv[1]), 'dynamic-int8')\n"
        "print(json.dumps({'path': str(r.artifact.directory), 'built': list(r.built)}))\n"
    )
    env = {**os.environ, "CODEGEND_CACHE_DIR": str(cache)}
    processes = [
        subprocess.Popen([sys.executable, "-c", script, str(tiny_codegen_dir)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=240)
        assert process.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert results[0]["path"] == results[1]["path"]
    # Exactly one process built each stage; the other found it.
    assert sorted(results[0]["built"] + results[1]["built"]) == sorted(
        ["fp32", "optimized", "dynamic-int8"])
    finished = [d for d in (cache / "artifacts").iterdir() if not d.name.startswith(".")]
    assert len(finished) == 3
    leftovers = [d for d in (cache / "artifacts").iterdir()
                 if d.name.startswith(".") and not d.name.endswith(".lock")]
    assert leftovers == []
