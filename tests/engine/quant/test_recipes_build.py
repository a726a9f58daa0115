"""Every recipe builds, loads through load_generator, completes, and records its quality."""

from __future__ import annotations

import collections
import math

import onnx
import pytest

from codegend.engine.build.pipeline import build_onnx_model
from codegend.engine.loader import load_generator
from codegend.engine.model_source import resolve_model_source
from codegend.engine.model_spec import ModelSpec
from codegend.engine.types import SamplingParams

# Quantized operators each recipe must leave in the graph (and how it marks weights).
RECIPE_CASES = {
    "dynamic-int8": ({}, "MatMulInteger"),
    "static-int8": ({"calibration_samples": 4}, "QuantizeLinear"),
    "int4-weight-only": ({}, "MatMulNBits"),
    "int4-weight-only:hqq": ({"algorithm": "hqq"}, "MatMulNBits"),
    "int4-weight-only:kquant": ({"algorithm": "kquant", "block_size": 16}, "MatMulNBits"),
    "int4-weight-only:gptq": ({"algorithm": "gptq", "calibration_samples": 4}, "MatMulNBits"),
}


@pytest.fixture(scope="module")
def resolved(tiny_codegen_dir):
    return resolve_model_source(str(tiny_codegen_dir))


@pytest.mark.parametrize("case", sorted(RECIPE_CASES))
def test_recipe_builds_loads_completes_and_records_quality(case, tiny_codegen_dir):
    name = case.split(":")[0]
    options, quantized_op = RECIPE_CASES[case]
    recipe = ":".join([name, *(f"{key}={value}" for key, value in options.items())])
    spec = ModelSpec(source=str(tiny_codegen_dir), backend="onnx", device="cpu",
                     quantization=recipe)
    generator = load_generator(spec)
    try:
        prompt = generator.tokenizer.encode("def add(a, b):\n    return")
        ids = generator.generate_ids(prompt, SamplingParams(max_new_tokens=6))
        text = generator.tokenizer.decode(ids)
    finally:
        generator.close()
    assert 1 <= len(ids) <= 6 and text
    manifest = generator.details
    assert manifest["stage"] == name
    assert manifest["recipe"]["quantization"] == name
    for key, value in options.items():
        assert manifest["recipe"][key] == value
    quality = manifest["quality_vs_fp32"]
    assert quality["positions"] > 100
    assert 0.5 < quality["top1_agreement"] <= 1.0
    assert 0.8 < quality["perplexity_ratio"] < 1.25
    assert 0.0 <= quality["kl_divergence"] < 0.1 and math.isfinite(quality["kl_divergence"])
    graph = onnx.load(str(generator_artifact(manifest, tiny_codegen_dir)))
    counts = collections.Counter(node.op_type for node in graph.graph.node)
    assert counts[quantized_op] >= 1, counts


def generator_artifact(manifest, tiny_codegen_dir):
    from codegend.engine.build.artifacts import cache_root

    return cache_root() / "artifacts" / f"{manifest['stage']}-{manifest['key']}" / "model.onnx"


def test_options_reach_the_key_and_the_manifest(resolved):
    default = build_onnx_model(resolved, "int4-weight-only").artifact
    wider = build_onnx_model(resolved, "int4-weight-only", options={"block_size": 64}).artifact
    assert default.key != wider.key
    assert default.manifest["quantization"]["block_size"] == 32
    assert wider.manifest["quantization"]["block_size"] == 64
    graph = onnx.load(str(wider.model_path))
    blocks = {attr.i for node in graph.graph.node if node.op_type == "MatMulNBits"
              for attr in node.attribute if attr.name == "block_size"}
    assert blocks == {64}


def test_int4_is_the_smallest_artifact(resolved):
    sizes = {name: build_onnx_model(resolved, name).artifact.manifest["size_bytes"]
             for name in ("none", "dynamic-int8", "int4-weight-only")}
    assert sizes["int4-weight-only"] < sizes["dynamic-int8"] < sizes["none"]


def test_excluded_nodes_stay_in_float(resolved):
    artifact = build_onnx_model(resolved, "dynamic-int8",
                                options={"exclude_nodes": ["*lm_head*"]}).artifact
    graph = onnx.load(str(artifact.model_path))
    ops = collections.Counter(node.op_type for node in graph.graph.node
                              if "lm_head" in node.name)
    assert ops["MatMul"] == 1 and ops["MatMulInteger"] == 0, ops
    assert "/lm_head/MatMul" in artifact.manifest["quantization"]["excluded_nodes"]
    others = collections.Counter(node.op_type for node in graph.graph.node)
    assert others["MatMulInteger"] >= 1  # everything else is still quantized


def test_static_int8_quantizes_the_token_embedding_only(resolved):
    options = {"calibration_samples": 4}
    artifact = build_onnx_model(resolved, "static-int8", options=options).artifact
    graph = onnx.load(str(artifact.model_path)).graph
    constants = {t.name: t.data_type for t in graph.initializer}
    float_lookups = [n.input[1] for n in graph.node
                     if n.op_type == "Gather" and n.input[0] in constants]
    assert "input_ids" not in float_lookups
    # The rotary caches of the fused attention stay float.
    assert constants["codegend/rotary_cos"] == constants["codegend/rotary_sin"] == \
        onnx.TensorProto.FLOAT
    assert artifact.manifest["quantization"]["embedding"] == "int8"
    floating = build_onnx_model(resolved, "static-int8",
                                options={**options, "embedding": "float"}).artifact
    assert floating.manifest["size_bytes"] > artifact.manifest["size_bytes"]


def test_static_int8_keeps_attention_and_matmul_outputs_in_float(resolved):
    artifact = build_onnx_model(resolved, "static-int8",
                                options={"calibration_samples": 4}).artifact
    graph = onnx.load(str(artifact.model_path)).graph
    dequantized = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    quantized_inputs = {n.input[0] for n in graph.node if n.op_type == "QuantizeLinear"}
    matmuls = [n for n in graph.node if n.op_type == "MatMul"]
    weight = [n for n in matmuls if n.input[1] in dequantized]
    assert len(weight) == len(matmuls) == 9  # 2 layers x (qkv, out, fc_in, fc_out) + head
    attention = [n for n in graph.node if n.op_type == "GroupQueryAttention"]
    assert len(attention) == 2
    assert all(name not in dequantized for n in attention for name in n.input)
    assert all(n.output[0] not in quantized_inputs for n in matmuls)
