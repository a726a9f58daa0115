"""How buffers are handed to ONNX Runtime: IO binding, run options, stream order.

The ONNX stepper keeps every tensor a step reads or writes (the KV cache, the inputs, the
logits) where the model runs — numpy arrays on the CPU, torch tensors on a GPU
(``arrays.py``) — and binds their memory to the session, so nothing is copied in between.
Two rules make that safe on a GPU, and both live here:
  * ONNX Runtime runs on its own CUDA stream, so what torch wrote on its stream (inputs,
    a restored cache) must be finished before a run starts (``wait_for_torch``); ONNX
    Runtime synchronizes its own stream at the end of a run, so reading afterwards is safe;
  * a session that captures CUDA graphs is told for every run whether this run is the
    captured step or runs uncaptured (``run_options``).
"""

from __future__ import annotations

import numpy as np

DECODE_GRAPH_ID = 1  # the one captured graph: the one-token decode step
UNCAPTURED = -1  # ONNX Runtime's graph id for "neither capture nor replay this run"
_ELEMENT_TYPES = {"float32": np.float32, "float16": np.float16, "int64": np.int64}


def bind_tensor(binding, name: str, tensor, *, is_input: bool) -> None:
    """Bind ``tensor``'s memory (a torch tensor, or a C-contiguous numpy array on the CPU)
    as the graph input or output ``name``."""
    element = _ELEMENT_TYPES[str(tensor.dtype).removeprefix("torch.")]
    if isinstance(tensor, np.ndarray):
        assert tensor.flags.c_contiguous, f"{name}: ONNX Runtime reads contiguous memory"
        device_type, device_id, address = "cpu", 0, tensor.ctypes.data
    else:
        device_type = "cuda" if tensor.is_cuda else "cpu"
        device_id, address = tensor.device.index or 0, tensor.data_ptr()
    # A zero-sized tensor may have a null data pointer; ORT accepts any pointer for it.
    bind = binding.bind_input if is_input else binding.bind_output
    bind(name, device_type, device_id, element, list(tensor.shape), address)


def run_options(graph_id: int):
    """RunOptions naming the CUDA graph a run captures or replays (UNCAPTURED: none).
    Sessions that capture nothing ignore the entry."""
    import onnxruntime as ort

    options = ort.RunOptions()
    options.add_run_config_entry("gpu_graph_id", str(graph_id))
    return options


def wait_for_torch(device) -> None:
    """Finish torch's pending work on ``device`` before ONNX Runtime's stream reads it."""
    import torch

    if device.type == "cuda":
        torch.cuda.current_stream(device).synchronize()
