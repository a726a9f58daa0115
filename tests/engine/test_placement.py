"""backend: auto / onnx / torch-tp -> which backend runs, with a reason (pure, no GPU needed)."""

from __future__ import annotations

import pytest

from codegend.engine.errors import CodegendError
from codegend.engine.placement import choose_backend, tp_world_size

GIB = 1024**3
SIX_B_FP16 = int(7.06e9 * 2)  # CodeGen-6B weights in fp16: 14.1 GB
T4_FREE = 15 * GIB


def test_auto_without_gpu_runs_onnx_on_cpu():
    backend, reason = choose_backend("auto", 0, SIX_B_FP16, None, None)
    assert backend == "onnx"
    assert "no CUDA GPU" in reason


def test_auto_on_one_gpu_runs_onnx_on_cuda_even_if_tight():
    backend, reason = choose_backend("auto", 1, 1 * GIB, T4_FREE, None)
    assert backend == "onnx" and reason == "auto: ONNX Runtime on CUDA (1 CUDA GPU)"
    backend, reason = choose_backend("auto", 1, SIX_B_FP16, T4_FREE, None)
    assert backend == "onnx"
    assert "may not fit" in reason


def test_auto_splits_a_model_too_large_for_one_of_several_gpus():
    backend, reason = choose_backend("auto", 4, SIX_B_FP16, T4_FREE, None)
    assert backend == "torch-tp"
    assert "do not fit one GPU" in reason and "split across 2 of 4 CUDA GPUs" in reason
    assert tp_world_size(4, SIX_B_FP16, T4_FREE, None) == 2


def test_auto_keeps_a_small_model_on_one_gpu_of_several():
    backend, reason = choose_backend("auto", 4, 1 * GIB, T4_FREE, None)
    assert backend == "onnx"
    assert "4 CUDA GPUs" in reason


def test_headroom_counts_a_model_that_only_just_fits_as_too_large():
    # 14.1 GB of weights in 16 GB free leaves no room for the KV cache and activations.
    backend, _ = choose_backend("auto", 2, SIX_B_FP16, 16 * GIB, None)
    assert backend == "torch-tp"
    assert choose_backend("auto", 2, SIX_B_FP16, 40 * GIB, None)[0] == "onnx"


def test_auto_uses_a_configured_world_size_on_a_multi_gpu_host():
    backend, reason = choose_backend("auto", 4, 1 * GIB, T4_FREE, 4)
    assert backend == "torch-tp"
    assert "world_size 4 configured" in reason


def test_auto_ignores_a_world_size_the_host_cannot_provide():
    backend, reason = choose_backend("auto", 1, 1 * GIB, T4_FREE, 2)
    assert backend == "onnx"
    assert "ignored" in reason
    assert choose_backend("auto", 0, 1 * GIB, None, 4)[0] == "onnx"


def test_auto_with_world_size_one_does_not_split():
    assert choose_backend("auto", 4, SIX_B_FP16, T4_FREE, 1)[0] == "onnx"


def test_unknown_free_memory_assumes_the_model_fits():
    backend, reason = choose_backend("auto", 4, SIX_B_FP16, None, None)
    assert backend == "onnx"
    assert "unknown" in reason


def test_forced_torch_tp():
    assert choose_backend("torch-tp", 4, 1 * GIB, T4_FREE, 2) == (
        "torch-tp", "backend: torch-tp requested (world_size 2 on 4 CUDA GPUs)"
    )
    backend, reason = choose_backend("torch-tp", 0, 1 * GIB, None, 2)
    assert backend == "torch-tp" and "CPU with gloo" in reason
    # No world size given: all GPUs a power of two allows when free memory is unknown.
    assert tp_world_size(6, SIX_B_FP16, None, None) == 4
    assert tp_world_size(0, SIX_B_FP16, None, None) == 1


def test_a_model_too_large_even_for_all_gpus_uses_as_many_as_possible():
    assert tp_world_size(4, 100 * GIB, T4_FREE, None) == 4
    backend, reason = choose_backend("auto", 4, 100 * GIB, T4_FREE, None)
    assert backend == "torch-tp" and "split across 4" in reason


def test_forced_onnx():
    assert choose_backend("onnx", 4, SIX_B_FP16, T4_FREE, None)[0] == "onnx"
    assert choose_backend("onnx", 0, SIX_B_FP16, None, None)[0] == "onnx"


@pytest.mark.parametrize(
    ("requested", "gpus", "world_size", "message"),
    [
        ("tensorrt", 1, None, "backend must be one of auto, onnx, torch-tp"),
        ("torch-tp", 2, 4, "world_size 4 needs 4 CUDA GPUs; this host has 2"),
        ("auto", 2, 4, "world_size 4 needs 4 CUDA GPUs"),
        ("auto", 2, 0, "world_size must be >= 1"),
    ],
)
def test_impossible_requests_are_clear_errors(requested, gpus, world_size, message):
    with pytest.raises(CodegendError, match=message):
        choose_backend(requested, gpus, GIB, T4_FREE, world_size)
