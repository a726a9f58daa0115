"""GPU checks of the ONNX path (CUDA execution provider, fp16 graph); skipped without CUDA."""

from __future__ import annotations

import pytest

from codegend.engine.devices import cuda_device_count, onnxruntime_has_cuda
from codegend.engine.loader import load_generator
from codegend.engine.model_spec import ModelSpec
from codegend.engine.types import SamplingParams

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(cuda_device_count() == 0 or not onnxruntime_has_cuda(),
                       reason="needs a CUDA GPU and onnxruntime-gpu's CUDA provider"),
]


def test_fp16_graph_runs_on_the_cuda_provider_and_agrees_with_fp32(tiny_codegen_dir):
    gpu = load_generator(ModelSpec(source=str(tiny_codegen_dir), device="cuda"))
    cpu = load_generator(ModelSpec(source=str(tiny_codegen_dir), device="cpu",
                                   quantization="none"))
    assert gpu.stepper.session.get_providers()[0] == "CUDAExecutionProvider"
    assert gpu.details["stage"] == "optimized-fp16"
    prompt = gpu.tokenizer.encode("def add(a, b):\n")
    gpu_logits = gpu.stepper.feed(prompt)
    cpu_logits = cpu.stepper.feed(prompt)
    assert abs(gpu_logits - cpu_logits).max() < 5e-2 * max(1.0, abs(cpu_logits).max())
    tokens = gpu.generate_ids(prompt, SamplingParams(max_new_tokens=8))
    assert len(tokens) >= 1
