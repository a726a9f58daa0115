"""Runs an exported CodeGen ONNX graph with ONNX Runtime, keeping the KV cache where it runs.

IO binding points ONNX Runtime at torch tensors on the model's device (CPU or CUDA): the
``present`` tensors one step writes are bound directly as the ``past`` of the next step, so
the cache never round-trips through numpy. Only the last position's logits come back to
the host.

A graph whose attention was fused into GroupQueryAttention (``fuse_attention``) takes a
preallocated cache instead: the same buffer is bound as past and present and the kernel
writes only the new positions into it, so a step no longer copies the whole past and a
truncation costs nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from codegend.engine.errors import ArtifactError
from codegend.engine.onnx.fuse_attention import KV_CACHE_METADATA, SHARED_BUFFER

log = logging.getLogger(__name__)

INITIAL_CACHE_POSITIONS = 256  # a shared cache starts this long and doubles when it fills
_ORT_TO_TORCH = {"tensor(float)": "float32", "tensor(float16)": "float16",
                 "tensor(bfloat16)": "bfloat16"}


def physical_cores() -> int:
    import psutil

    return psutil.cpu_count(logical=False) or psutil.cpu_count() or 1


def create_session(model_path: Path, device: str = "cpu", threads: int | None = None):
    """An InferenceSession on ``device`` ("cpu", "cuda" or "auto"); falls back to CPU with a
    log line saying why when CUDA was asked for but is not usable."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or physical_cores()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only; ORT's warnings are noise for users
    providers = ["CPUExecutionProvider"]
    if device in ("cuda", "auto"):
        if "CUDAExecutionProvider" in ort.get_available_providers():
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        elif device == "cuda":
            log.info("CUDA asked for, but this onnxruntime has no CUDA provider: using the CPU")
    try:
        session = ort.InferenceSession(str(model_path), options, providers=providers)
    except Exception as err:  # ORT raises its own exception types for invalid graphs
        raise ArtifactError(f"{model_path}: ONNX Runtime cannot load the graph ({err})") from err
    if providers[0] == "CUDAExecutionProvider" and \
            "CUDAExecutionProvider" not in session.get_providers():
        log.info("CUDA execution provider could not start (no usable GPU): using the CPU")
    return session


class OnnxStepper:
    """A :class:`~codegend.engine.stepper.CausalStepper` over one ONNX Runtime session."""

    def __init__(self, session, max_positions: int) -> None:
        import torch

        self.session = session
        self.max_positions = max_positions
        on_cuda = session.get_providers()[0] == "CUDAExecutionProvider"
        self.device = torch.device("cuda" if on_cuda else "cpu")
        inputs = {i.name: i for i in session.get_inputs()}
        self._past_names = [n for n in inputs if n.startswith("past_key_values.")]
        self._present_names = [n.replace("past_key_values.", "present.") for n in self._past_names]
        if not self._past_names or "input_ids" not in inputs:
            raise ArtifactError("the ONNX graph has no KV-cache inputs (export with past)")
        first_past = inputs[self._past_names[0]]
        self._kv_dtype = getattr(torch, _ORT_TO_TORCH[first_past.type])
        self._heads, self._head_dim = int(first_past.shape[1]), int(first_past.shape[3])
        self._uses_position_ids = "position_ids" in inputs
        metadata = session.get_modelmeta().custom_metadata_map
        self._shares_buffer = metadata.get(KV_CACHE_METADATA) == SHARED_BUFFER
        logits_shape = session.get_outputs()[0].shape
        self.vocab_size = int(logits_shape[-1])
        self._logits_dtype = getattr(torch, _ORT_TO_TORCH[session.get_outputs()[0].type])
        self._past: list = []  # one [1, H, T, D] tensor per past input, on self.device
        self._cache_binding = None  # shared buffers only: an IOBinding with them bound
        self._length = 0
        self.truncate(0)

    @property
    def cached_tokens(self) -> int:
        return self._length

    def truncate(self, length: int) -> None:
        import torch

        assert 0 <= length <= self._length or not self._past
        if self._shares_buffer:
            # The kernel reads only the first `length` positions and overwrites the rest.
            if not self._past:
                self._reserve(min(INITIAL_CACHE_POSITIONS, self.max_positions))
        elif length == 0:
            empty = (1, self._heads, 0, self._head_dim)
            self._past = [torch.empty(empty, dtype=self._kv_dtype, device=self.device)
                          for _ in self._past_names]
        elif length < self._length:
            # The graph takes contiguous past tensors; a truncation copies once per request.
            self._past = [p[:, :, :length].contiguous() for p in self._past]
        self._length = length

    def _reserve(self, positions: int) -> None:
        """Make the shared cache hold at least ``positions``, keeping what it holds."""
        import torch

        capacity = self._past[0].shape[2] if self._past else 0
        if positions <= capacity:
            return
        capacity = min(self.max_positions, max(positions, 2 * capacity))
        shape = (1, self._heads, capacity, self._head_dim)
        grown = [torch.zeros(shape, dtype=self._kv_dtype, device=self.device)
                 for _ in self._past_names]
        for new, old in zip(grown, self._past, strict=False):  # nothing the first time
            new[:, :, :self._length] = old[:, :, :self._length]
        self._past = grown
        self._cache_binding = None  # bound to the old buffers

    def feed(self, token_ids: list[int]) -> np.ndarray:
        return self.forward(token_ids)[-1].float().cpu().numpy()

    def forward(self, token_ids: list[int]):
        """Logits for every fed position as a torch tensor ``[len(token_ids), vocab]``."""
        import torch

        assert token_ids, "feed needs at least one token"
        new = len(token_ids)
        total = self._length + new
        if total > self.max_positions:
            raise ArtifactError(f"sequence of {total} tokens exceeds {self.max_positions}")
        if self._shares_buffer:
            self._reserve(total)
            presents = self._past  # written in place, at positions [length, total)
            binding = self._cache_binding or self._bind_cache(self.session.io_binding())
        else:
            presents = [torch.empty((1, self._heads, total, self._head_dim),
                                    dtype=self._kv_dtype, device=self.device)
                        for _ in self._present_names]
            binding = self.session.io_binding()
            self._bind_cache(binding, presents)
        input_ids = torch.tensor([token_ids], dtype=torch.int64, device=self.device)
        attention = torch.ones((1, total), dtype=torch.int64, device=self.device)
        positions = torch.arange(self._length, total, dtype=torch.int64,
                                 device=self.device).unsqueeze(0)
        keep_alive = [input_ids, attention, positions]
        self._bind(binding, "input_ids", input_ids, is_input=True)
        self._bind(binding, "attention_mask", attention, is_input=True)
        if self._uses_position_ids:
            self._bind(binding, "position_ids", positions, is_input=True)
        logits = torch.empty((1, new, self.vocab_size), dtype=self._logits_dtype,
                             device=self.device)
        self._bind(binding, "logits", logits, is_input=False)
        self.session.run_with_iobinding(binding)
        del keep_alive
        self._past, self._length = presents, total
        return logits[0]

    def _bind_cache(self, binding, presents: list | None = None):
        """Bind the past tensors as inputs and ``presents`` (default: the same shared
        buffers, which stay bound until the cache grows) as outputs."""
        for name, past in zip(self._past_names, self._past, strict=True):
            self._bind(binding, name, past, is_input=True)
        for name, present in zip(self._present_names, presents or self._past, strict=True):
            self._bind(binding, name, present, is_input=False)
        if presents is None:
            self._cache_binding = binding
        return binding

    def _bind(self, binding, name: str, tensor, *, is_input: bool) -> None:
        element = {"float32": np.float32, "float16": np.float16, "int64": np.int64}[
            str(tensor.dtype).removeprefix("torch.")
        ]
        device_type = "cuda" if tensor.is_cuda else "cpu"
        device_id = tensor.device.index or 0
        # A zero-sized tensor may have a null data pointer; ORT accepts any pointer for it.
        pointer = tensor.data_ptr()
        bind = binding.bind_input if is_input else binding.bind_output
        bind(name, device_type, device_id, element, list(tensor.shape), pointer)

    failure: str | None = None  # runs in this process: nothing can fail apart from it

    def snapshot(self) -> tuple[tuple, int]:
        if self._shares_buffer:  # the live buffers are overwritten in place: copy
            return tuple(p[:, :, :self._length].clone() for p in self._past), self._length
        # Steps and truncations always write new tensors, so holding references is a copy.
        return tuple(self._past), self._length

    def restore(self, snapshot: tuple[tuple, int]) -> None:
        past, length = snapshot
        if self._shares_buffer:
            self._length = 0  # nothing of the live cache needs keeping while it grows
            self._reserve(length)
            for live, saved in zip(self._past, past, strict=True):
                live[:, :, :length] = saved
        else:
            self._past = list(past)
        self._length = length

    def restart(self) -> None:
        self.truncate(0)

    def close(self) -> None:
        self._past = []
        self._cache_binding = None
        self.session = None
