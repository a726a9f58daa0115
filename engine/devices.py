"""Which accelerators this host has, asked of the CUDA driver itself.

Not through torch: importing it costs seconds on a path (placing an ONNX model) that may never
run torch, and a CPU-only torch says nothing about the GPUs ONNX Runtime could still use. The
driver honours ``CUDA_VISIBLE_DEVICES`` just as torch does.
"""

from __future__ import annotations

import ctypes


def cuda_device_count() -> int:
    """Number of CUDA GPUs the driver sees (0 without a driver or GPU)."""
    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if driver.cuInit(0) != 0 or driver.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


def onnxruntime_has_cuda() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()
