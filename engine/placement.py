"""Where a model runs: the one decision of backend, device and tensor-parallel size.

``choose_placement`` reads the host (CUDA GPUs, ONNX Runtime's providers) and the model's
size, and decides once; the loader and ``codegend export`` only follow its answer.
``backend: torch`` is the transformers reference, run as asked. For the others,
``choose_backend`` is the pure rule: ``auto`` picks the tensor-parallel torch group on a host
with two or more CUDA GPUs when the model is configured for it (``world_size`` >= 2) or does
not fit one GPU with headroom; the ONNX path on the CUDA execution provider on one GPU (or
when the model fits one of several); and the ONNX path on CPU otherwise. ``onnx`` and
``torch-tp`` force their backend. The reason string is what ``/v1/health`` and the log show.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from codegend.engine.devices import cuda_device_count, onnxruntime_has_cuda
from codegend.engine.errors import CodegendError
from codegend.engine.model_source import ResolvedModel
from codegend.engine.model_spec import BACKENDS, ModelSpec

log = logging.getLogger(__name__)

REFERENCE_BACKEND = "torch"  # run only when named: the baseline every faster path matches
REQUESTABLE = tuple(b for b in BACKENDS if b != REFERENCE_BACKEND)  # what choose_backend weighs
# A model "fits" a GPU when its weights take at most this share of the free memory: the rest
# holds the KV cache, activations and the CUDA context.
FIT_FRACTION = 0.8
GIB = 1024**3


def choose_backend(
    requested: str,
    cuda_device_count: int,
    model_bytes: int,
    gpu_free_bytes: int | None,
    world_size: int | None,
) -> tuple[str, str]:
    """(backend, reason); backend is "torch-tp" or "onnx" (whose device follows
    ``cuda_device_count``: 0 is the CPU). For "torch-tp", ``tp_world_size`` says how many ranks.

    cuda_device_count: GPUs usable for this model (pass 0 when the model is pinned to cpu).
    model_bytes: the weights in the dtype they will be served in.
    gpu_free_bytes: free memory of one GPU (the one with the least free); None when unknown,
        in which case auto assumes the model fits.
    world_size: the configured tensor-parallel size, or None.
    """
    if requested not in REQUESTABLE:
        raise CodegendError(
            f"backend must be one of {', '.join(REQUESTABLE)} (got {requested!r})"
        )
    if world_size is not None and world_size < 1:
        raise CodegendError(f"world_size must be >= 1 (got {world_size})")
    gpus = f"{cuda_device_count} CUDA GPU{'s' if cuda_device_count != 1 else ''}"
    if requested == "torch-tp":
        reason = _forced_tp_reason(
            cuda_device_count, model_bytes, gpu_free_bytes, world_size, gpus
        )
        return "torch-tp", reason
    if requested == "onnx":
        return "onnx", f"backend: onnx requested ({gpus})"
    if cuda_device_count >= 2:
        if world_size is not None and world_size >= 2:
            _check_enough_gpus(world_size, cuda_device_count)
            return "torch-tp", f"auto: world_size {world_size} configured and the host has {gpus}"
        if world_size is None and gpu_free_bytes is not None \
                and not fits(model_bytes, gpu_free_bytes):
            n = tp_world_size(cuda_device_count, model_bytes, gpu_free_bytes, world_size)
            return "torch-tp", (
                f"auto: the model's {_gib(model_bytes)} do not fit one GPU with headroom "
                f"({_gib(gpu_free_bytes)} free, {FIT_FRACTION:.0%} usable); split across {n} "
                f"of {gpus}"
            )
    ignored = ""
    if world_size is not None and world_size >= 2 and cuda_device_count < 2:
        ignored = f"; world_size {world_size} needs 2+ GPUs, ignored"
    if cuda_device_count >= 1:
        note = ignored
        if gpu_free_bytes is not None and not fits(model_bytes, gpu_free_bytes):
            note += f"; the model's {_gib(model_bytes)} may not fit ({_gib(gpu_free_bytes)} free)"
        elif gpu_free_bytes is None:
            note += "; free GPU memory unknown"
        return "onnx", f"auto: ONNX Runtime on CUDA ({gpus}{note})"
    return "onnx", f"auto: no CUDA GPU; ONNX Runtime on CPU{ignored}"


@dataclass(frozen=True)
class Placement:
    backend: str  # onnx | torch | torch-tp: what runs, never "auto"
    device: str  # cpu | cuda
    reason: str  # shown in the log and /v1/health
    world_size: int = 1  # ranks of the torch-tp group


def choose_placement(spec: ModelSpec, resolved: ResolvedModel) -> Placement:
    """How ``spec`` runs on this host."""
    gpus = cuda_device_count() if spec.device != "cpu" else 0
    if spec.device == "cuda" and gpus == 0:
        log.info("device cuda asked for but no CUDA GPU is visible: using the CPU")
    device = "cuda" if gpus and spec.device in ("cuda", "auto") else "cpu"
    if spec.backend == REFERENCE_BACKEND:
        return Placement("torch", device, "backend: torch (the transformers reference)")
    if spec.backend == "torch-tp" or (spec.backend == "auto" and gpus >= 2):
        usable = gpus if device == "cuda" else 0
        # Free GPU memory is not measured (None): auto assumes the model fits one GPU.
        model_bytes = weight_bytes(resolved)
        backend, reason = choose_backend(spec.backend, usable, model_bytes, None,
                                         spec.world_size)
        world_size = tp_world_size(usable, model_bytes, None, spec.world_size) \
            if backend == "torch-tp" else 1
        return Placement(backend, device, reason, world_size)
    if device == "cuda" and not onnxruntime_has_cuda():
        return Placement("onnx", "cpu", "onnxruntime has no CUDA provider: ONNX on the CPU")
    where = "one GPU: ONNX Runtime, CUDA provider" if device == "cuda" else "ONNX Runtime, CPU"
    return Placement("onnx", device, f"backend {spec.backend}: {where}")


def quantization_for(spec: ModelSpec, placement: Placement) -> str:
    """The recipe asked for; unset: static INT8 on the CPU, the fp16 graph on a GPU (CUDA
    runs float MatMuls faster than ONNX Runtime's INT8 kernels there).

    Static, not dynamic, INT8 on the CPU: its activation scales are fixed at calibration, so a
    position's logits do not depend on which tokens were fed with it, and KV prefix reuse,
    speculative verification and token-by-token decoding give exactly what a fresh prefill
    gives (dynamic INT8 scales each call's activations by their own range: reuse changed 3
    of 120 greedy answers). Measured against dynamic INT8 on the default model (bench/
    QUANTIZATION.md): the same top-1 agreement with fp32, decode as fast or faster."""
    name, _ = spec.recipe()
    return name or ("none" if placement.device == "cuda" else "static-int8")


def weight_bytes(resolved: ResolvedModel) -> int:
    """The checkpoint's size on disk: the weights as they will be served."""
    return sum(p.stat().st_size for p in resolved.weight_files)


def fits(model_bytes: int, gpu_free_bytes: int) -> bool:
    return model_bytes <= FIT_FRACTION * gpu_free_bytes


def tp_world_size(
    cuda_device_count: int, model_bytes: int, gpu_free_bytes: int | None, world_size: int | None
) -> int:
    """How many ranks torch-tp runs: the configured number; else the fewest GPUs (a power of
    two, at least 2) whose shards fit; else the most GPUs a power of two allows; 1 on CPU.

    Powers of two because CodeGen's head counts (16, 32) divide by them, and fewer ranks
    mean smaller all-reduce overheads per token.
    """
    if world_size is not None:
        return world_size
    powers = [2**i for i in range(1, 8) if 2**i <= cuda_device_count]  # 2, 4, 8, ...
    if not powers:
        return 1
    if gpu_free_bytes is not None:
        for size in powers:
            if fits(model_bytes // size, gpu_free_bytes):
                return size
    return powers[-1]


def _forced_tp_reason(
    cuda_device_count: int, model_bytes: int, gpu_free_bytes: int | None,
    world_size: int | None, gpus: str,
) -> str:
    n = tp_world_size(cuda_device_count, model_bytes, gpu_free_bytes, world_size)
    if cuda_device_count == 0:
        return f"backend: torch-tp requested (world_size {n} on CPU with gloo; {gpus})"
    _check_enough_gpus(n, cuda_device_count)
    return f"backend: torch-tp requested (world_size {n} on {gpus})"


def _check_enough_gpus(world_size: int, cuda_device_count: int) -> None:
    if world_size > cuda_device_count:
        raise CodegendError(
            f"world_size {world_size} needs {world_size} CUDA GPUs; this host has "
            f"{cuda_device_count} (lower world_size, or use device: cpu)"
        )


def _gib(size: int) -> str:
    return f"{size / GIB:.1f} GiB"
