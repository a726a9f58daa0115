"""The buffers the ONNX stepper binds to its session: numpy on the CPU, torch on a GPU.

IO binding hands ONNX Runtime an address, a shape and an element type; any contiguous buffer
will do. On the CPU plain numpy arrays are enough, so serving an ONNX model on the CPU never
imports torch (seconds of start-up, and hundreds of megabytes, for nothing). On a GPU the
buffers must live in device memory, and torch is what allocates them (and what the CUDA
graph decode step is written with), so there the stepper uses :class:`TorchArrays`.

Both kits offer the few operations the stepper needs, named the same, so the stepper is
written once: allocate, make the per-step inputs, copy a cache prefix, and bring logits to the
host as float32. Slicing (``cache[:, :, :n]``) and slice assignment work alike on both.
"""

from __future__ import annotations

import numpy as np

# ONNX Runtime's element type names to the dtype names numpy and torch share.
ORT_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16",
              "tensor(bfloat16)": "bfloat16"}


class NumpyArrays:
    """Host memory: what a CPU session reads and writes in place."""

    device = "cpu"
    on_gpu = False

    def empty(self, shape: tuple[int, ...], dtype: str) -> np.ndarray:
        return np.empty(shape, dtype=_numpy_dtype(dtype))

    def zeros(self, shape: tuple[int, ...], dtype: str) -> np.ndarray:
        return np.zeros(shape, dtype=_numpy_dtype(dtype))

    def step_inputs(self, token_ids: list[int], start: int, total: int):
        """input_ids [1, n], attention_mask [1, total] (all ones), position_ids [1, n]."""
        return (np.asarray([token_ids], dtype=np.int64), np.ones((1, total), dtype=np.int64),
                np.arange(start, total, dtype=np.int64)[None])

    def copy(self, array: np.ndarray) -> np.ndarray:
        """A contiguous copy (of a slice, typically)."""
        return np.array(array, order="C")  # copies, contiguous

    def host_float32(self, array: np.ndarray) -> np.ndarray:
        return array.astype(np.float32, copy=False)

    def synchronize(self) -> None:
        """Nothing is pending on the CPU: what numpy wrote is there."""


class TorchArrays:
    """Device memory through torch (the GPU, or the CPU where a test runs the static decode
    step there)."""

    on_gpu: bool

    def __init__(self, device_type: str) -> None:
        import torch

        self._torch = torch
        self.device = torch.device(device_type)
        self.on_gpu = self.device.type == "cuda"

    def empty(self, shape: tuple[int, ...], dtype: str):
        return self._torch.empty(shape, dtype=getattr(self._torch, dtype), device=self.device)

    def zeros(self, shape: tuple[int, ...], dtype: str):
        return self._torch.zeros(shape, dtype=getattr(self._torch, dtype), device=self.device)

    def step_inputs(self, token_ids: list[int], start: int, total: int):
        torch, device = self._torch, self.device
        return (torch.tensor([token_ids], dtype=torch.int64, device=device),
                torch.ones((1, total), dtype=torch.int64, device=device),
                torch.arange(start, total, dtype=torch.int64, device=device).unsqueeze(0))

    def copy(self, array):
        return array.clone(memory_format=self._torch.contiguous_format)  # one copy, contiguous

    def host_float32(self, array) -> np.ndarray:
        return array.float().cpu().numpy()

    def synchronize(self) -> None:
        from codegend.engine.onnx.binding import wait_for_torch

        wait_for_torch(self.device)


def _numpy_dtype(name: str) -> type:
    if name == "bfloat16":  # numpy has none; only GPU graphs use it, and they use torch
        raise TypeError("bfloat16 buffers need torch (a GPU session)")
    return getattr(np, name)
