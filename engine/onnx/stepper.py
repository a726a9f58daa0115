"""Runs an exported CodeGen ONNX graph with ONNX Runtime, keeping the KV cache where it runs.

IO binding points ONNX Runtime at buffers where the model runs (``arrays``: numpy arrays on
the CPU, so serving there never imports torch; torch tensors on a GPU): the ``present``
tensors one step writes are bound directly as the ``past`` of the next step, so the cache
never round-trips through the host. Only the fed positions' logits come back.

A graph whose attention was fused into GroupQueryAttention (``fuse_attention``) takes a
preallocated cache instead: the same buffer is bound as past and present and the kernel
writes only the new positions into it, so a step no longer copies the whole past and a
truncation costs nothing.

On a GPU such a graph also decodes through a CUDA graph (``decode_graph``): the session is
created with ONNX Runtime's ``enable_cuda_graph``, the cache is allocated at full length
once, and each one-token step replays the captured kernels instead of launching a few
hundred. Prompts (several tokens) run uncaptured.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from codegend.engine.errors import ArtifactError
from codegend.engine.onnx.arrays import ORT_DTYPES, NumpyArrays, TorchArrays
from codegend.engine.onnx.binding import UNCAPTURED, bind_tensor, run_options
from codegend.engine.onnx.decode_graph import DecodeGraph
from codegend.engine.onnx.fuse_attention import KV_CACHE_METADATA, SHARED_BUFFER
from codegend.engine.onnx.graph_files import read_metadata

log = logging.getLogger(__name__)

INITIAL_CACHE_POSITIONS = 256  # a shared cache starts this long and doubles when it fills


def physical_cores() -> int:
    import psutil

    return psutil.cpu_count(logical=False) or psutil.cpu_count() or 1


def create_session(model_path: Path, device: str = "cpu", threads: int | None = None,
                   cuda_graph: bool | None = None):
    """An InferenceSession on ``device`` ("cpu", "cuda" or "auto"); falls back to CPU with a
    log line saying why when CUDA was asked for but is not usable.

    cuda_graph: on the CUDA provider, let the session capture the decode step as a CUDA
    graph; None: when the graph shares its KV buffer (the static shapes a capture needs).
    A session ONNX Runtime cannot capture (some node outside the CUDA provider) is created
    without, with a log line saying why.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or physical_cores()
    options.inter_op_num_threads = 1
    # The pool's workers spin while a run needs them, not after it: an idle spinner holds a
    # core that the daemon's other model (or the editor) then runs without. On 2 cores,
    # with requests alternating between tiny-py and tiny-web, spinning made decoding take
    # 1.5x as long per token and the first token come 1.3x as late; one model alone is as
    # fast either way (bench/bench_spinning.py).
    options.add_session_config_entry("session.force_spinning_stop", "1")
    options.log_severity_level = 3  # errors only; ORT's warnings are noise for users
    providers: list = ["CPUExecutionProvider"]
    if device in ("cuda", "auto"):
        if "CUDAExecutionProvider" in ort.get_available_providers():
            if cuda_graph is None:
                cuda_graph = read_metadata(model_path).get(KV_CACHE_METADATA) == SHARED_BUFFER
            cuda = {"enable_cuda_graph": "1"} if cuda_graph else {}
            providers = [("CUDAExecutionProvider", cuda), "CPUExecutionProvider"]
        elif device == "cuda":
            log.info("CUDA asked for, but this onnxruntime has no CUDA provider: using the CPU")
    try:
        session = ort.InferenceSession(str(model_path), options, providers=providers)
    except Exception as err:  # ORT raises its own exception types for invalid graphs
        if providers[0] == ("CUDAExecutionProvider", {"enable_cuda_graph": "1"}):
            log.warning("CUDA graphs unavailable for %s (%s): decoding uncaptured", model_path,
                        err)
            return create_session(model_path, device, threads, cuda_graph=False)
        raise ArtifactError(f"{model_path}: ONNX Runtime cannot load the graph ({err})") from err
    if providers[0] != "CPUExecutionProvider" and \
            "CUDAExecutionProvider" not in session.get_providers():
        log.info("CUDA execution provider could not start (no usable GPU): using the CPU")
    return session


def captures_cuda_graphs(session) -> bool:
    """Whether ``session`` runs on the CUDA provider with CUDA graph capture enabled."""
    cuda = session.get_provider_options().get("CUDAExecutionProvider", {})
    return session.get_providers()[0] == "CUDAExecutionProvider" and \
        cuda.get("enable_cuda_graph") in ("1", "True", "true")


class OnnxStepper:
    """A :class:`~codegend.engine.stepper.CausalStepper` over one ONNX Runtime session."""

    def __init__(self, session, max_positions: int, static_decode: bool | None = None) -> None:
        """static_decode: run one-token steps through a :class:`DecodeGraph` (fixed shapes,
        full-length cache); None: when the session captures CUDA graphs. True on the CPU
        runs the same static step uncaptured (tests compare it with the exact one)."""
        self.session = session
        self.max_positions = max_positions
        on_cuda = session.get_providers()[0] == "CUDAExecutionProvider"
        capture = captures_cuda_graphs(session)
        static = capture if static_decode is None else static_decode
        # The decode graph is written with torch; everything else runs on numpy on the CPU.
        self.arrays = TorchArrays("cuda" if on_cuda else "cpu") if on_cuda or static \
            else NumpyArrays()
        self.device = self.arrays.device
        inputs = {i.name: i for i in session.get_inputs()}
        self._past_names = [n for n in inputs if n.startswith("past_key_values.")]
        self._present_names = [n.replace("past_key_values.", "present.") for n in self._past_names]
        if not self._past_names or "input_ids" not in inputs:
            raise ArtifactError("the ONNX graph has no KV-cache inputs (export with past)")
        first_past = inputs[self._past_names[0]]
        self._kv_dtype = ORT_DTYPES[first_past.type]
        self._heads, self._head_dim = int(first_past.shape[1]), int(first_past.shape[3])
        self._uses_position_ids = "position_ids" in inputs
        metadata = session.get_modelmeta().custom_metadata_map
        self._shares_buffer = metadata.get(KV_CACHE_METADATA) == SHARED_BUFFER
        logits_shape = session.get_outputs()[0].shape
        self.vocab_size = int(logits_shape[-1])
        self._logits_dtype = ORT_DTYPES[session.get_outputs()[0].type]
        self._past: list = []  # one [1, H, T, D] tensor per past input, on self.device
        self._cache_binding = None  # shared buffers only: an IOBinding with them bound
        self._length = 0
        self.decode_graph: DecodeGraph | None = None
        if static:
            import torch

            if not self._shares_buffer:
                raise ArtifactError("a static decode step needs the fused graph's shared cache")
            self.decode_graph = DecodeGraph(
                session, list(zip(self._past_names, self._present_names, strict=True)),
                self.vocab_size, getattr(torch, self._logits_dtype), self.device, capture)
        # Every run of a capturing session says whether it is the captured step.
        self._uncaptured = run_options(UNCAPTURED) if capture else None
        self.truncate(0)

    @property
    def cached_tokens(self) -> int:
        return self._length

    def truncate(self, length: int) -> None:
        assert 0 <= length <= self._length or not self._past
        if self._shares_buffer:
            # The kernel reads only the first `length` positions and overwrites the rest.
            if not self._past:
                # A decode graph keeps the addresses it was bound to: full length at once.
                first = self.max_positions if self.decode_graph else INITIAL_CACHE_POSITIONS
                self._reserve(min(first, self.max_positions))
        elif length == 0:
            empty = (1, self._heads, 0, self._head_dim)
            self._past = [self.arrays.empty(empty, self._kv_dtype) for _ in self._past_names]
        elif length < self._length:
            # The graph takes contiguous past tensors; a truncation copies once per request.
            self._past = [self.arrays.copy(p[:, :, :length]) for p in self._past]
        self._length = length

    def _reserve(self, positions: int) -> None:
        """Make the shared cache hold at least ``positions``, keeping what it holds."""
        capacity = self._past[0].shape[2] if self._past else 0
        if positions <= capacity:
            return
        capacity = min(self.max_positions, max(positions, 2 * capacity))
        shape = (1, self._heads, capacity, self._head_dim)
        grown = [self.arrays.zeros(shape, self._kv_dtype) for _ in self._past_names]
        for new, old in zip(grown, self._past, strict=False):  # nothing the first time
            new[:, :, :self._length] = old[:, :, :self._length]
        self._past = grown
        self._cache_binding = None  # bound to the old buffers
        if self.decode_graph is not None:
            assert self.decode_graph.capacity == 0, "a bound decode graph's cache cannot move"
            self.decode_graph.bind(grown)

    def feed(self, token_ids: list[int]) -> np.ndarray:
        return self.arrays.host_float32(self.forward(token_ids)[-1])

    @property
    def verifies_drafts(self) -> bool:
        # A captured decode step replays one token at fixed shapes; a draft would run the
        # several-token path uncaptured, paying the launches the capture saves. On the CPU
        # (or uncaptured) a pass over a few more tokens costs a little more than one step
        # (1.2-1.6x at 1 thread for 2-9 tokens: bench/bench_speculative.py).
        return self.decode_graph is None or not self.decode_graph.capture

    def feed_tail(self, token_ids: list[int], tail: int) -> np.ndarray:
        """The logits of the last ``tail`` fed positions (speculative decoding)."""
        assert 1 <= tail <= len(token_ids)
        return self.arrays.host_float32(self.forward(token_ids)[-tail:])

    def feed_all(self, token_ids: list[int]) -> np.ndarray:
        """The float32 logits of every fed position on the host, ``[len(token_ids), vocab]``
        (validation and quality measurements compare them with a reference)."""
        return self.feed_tail(token_ids, len(token_ids))

    def forward(self, token_ids: list[int]):
        """Logits for every fed position, ``[len(token_ids), vocab]``, as the stepper's kind
        of array (``self.arrays``: numpy on the CPU, torch on a GPU)."""
        assert token_ids, "feed needs at least one token"
        new = len(token_ids)
        total = self._length + new
        if total > self.max_positions:
            raise ArtifactError(f"sequence of {total} tokens exceeds {self.max_positions}")
        if self.decode_graph is not None and new == 1 and self._length > 0:
            logits = self.decode_graph.step(token_ids[0], total)
            self._length = total
            return logits
        if self._shares_buffer:
            self._reserve(total)
            presents = self._past  # written in place, at positions [length, total)
            binding = self._cache_binding or self._bind_cache(self.session.io_binding())
        else:
            presents = [self.arrays.empty((1, self._heads, total, self._head_dim),
                                          self._kv_dtype) for _ in self._present_names]
            binding = self.session.io_binding()
            self._bind_cache(binding, presents)
        input_ids, attention, positions = self.arrays.step_inputs(token_ids, self._length, total)
        keep_alive = [input_ids, attention, positions]
        bind_tensor(binding, "input_ids", input_ids, is_input=True)
        bind_tensor(binding, "attention_mask", attention, is_input=True)
        if self._uses_position_ids:
            bind_tensor(binding, "position_ids", positions, is_input=True)
        logits = self.arrays.empty((1, new, self.vocab_size), self._logits_dtype)
        bind_tensor(binding, "logits", logits, is_input=False)
        self.arrays.synchronize()
        self.session.run_with_iobinding(binding, self._uncaptured)
        del keep_alive
        self._past, self._length = presents, total
        return logits[0]

    def _bind_cache(self, binding, presents: list | None = None):
        """Bind the past tensors as inputs and ``presents`` (default: the same shared
        buffers, which stay bound until the cache grows) as outputs."""
        for name, past in zip(self._past_names, self._past, strict=True):
            bind_tensor(binding, name, past, is_input=True)
        for name, present in zip(self._present_names, presents or self._past, strict=True):
            bind_tensor(binding, name, present, is_input=False)
        if presents is None:
            self._cache_binding = binding
        return binding

    failure: str | None = None  # runs in this process: nothing can fail apart from it

    def snapshot(self) -> tuple[tuple, int]:
        if self._shares_buffer:  # the live buffers are overwritten in place: copy
            return tuple(self.arrays.copy(p[:, :, :self._length]) for p in self._past), \
                self._length
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
        self.decode_graph = None
        self.session = None
