"""From a model spec (what the config or the CLI says) to a ready ``TextGenerator``."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from codegend.engine.devices import cuda_device_count, onnxruntime_has_cuda
from codegend.engine.errors import CodegendError
from codegend.engine.generate import StepperGenerator
from codegend.engine.model_source import DEFAULT_MODEL, ResolvedModel, resolve_model_source
from codegend.engine.tokenizer import load_tokenizer

log = logging.getLogger(__name__)

BACKENDS = ("auto", "onnx", "torch", "torch-tp")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class ModelSpec:
    source: str = DEFAULT_MODEL  # directory, builtin:NAME, or a hub id in the local cache
    name: str = "default"  # how the daemon and clients refer to this model
    backend: str = "auto"  # auto | onnx | torch | torch-tp
    device: str = "auto"  # auto | cpu | cuda
    quantization: str | None = None  # None: dynamic-int8 on CPU, none (fp16) on CUDA
    quantization_options: tuple[tuple[str, object], ...] = ()  # recipe options, as pairs
    context_tokens: int | None = None  # None: the model's own maximum
    max_new_tokens: int = 64
    threads: int | None = None  # intra-op threads; None: physical cores
    world_size: int | None = None  # torch-tp ranks
    kv_sequences: int = 4  # documents whose KV caches are kept (ONNX backend), live one included
    allow_download: bool = False  # resolve hub ids from the network too

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise CodegendError(f"backend {self.backend!r}: choose from {', '.join(BACKENDS)}")
        if self.device not in DEVICES:
            raise CodegendError(f"device {self.device!r}: choose from {', '.join(DEVICES)}")


@dataclass(frozen=True)
class Placement:
    backend: str  # onnx | torch | torch-tp
    device: str  # cpu | cuda
    reason: str  # shown in the log and /v1/health


def choose_placement(spec: ModelSpec, resolved: ResolvedModel) -> Placement:
    gpus = cuda_device_count() if spec.device != "cpu" else 0
    if spec.device == "cuda" and gpus == 0:
        log.info("device cuda asked for but no CUDA GPU is visible: using the CPU")
    device = "cuda" if gpus and spec.device in ("cuda", "auto") else "cpu"
    if spec.backend == "torch":
        return Placement("torch", device, "backend: torch (the transformers reference)")
    if spec.backend == "torch-tp" or (spec.backend == "auto" and gpus >= 2):
        from codegend.engine.backend_choice import choose_backend

        backend, reason = choose_backend(spec.backend, gpus if device == "cuda" else 0,
                                         _weight_bytes(resolved), None, spec.world_size)
        return Placement(backend, device, reason)
    if device == "cuda" and not onnxruntime_has_cuda():
        return Placement("onnx", "cpu", "onnxruntime has no CUDA provider: ONNX on the CPU")
    where = "one GPU: ONNX Runtime, CUDA provider" if device == "cuda" else "ONNX Runtime, CPU"
    return Placement("onnx", device, f"backend {spec.backend}: {where}")


def quantization_for(spec: ModelSpec, placement: Placement) -> str:
    """The recipe asked for; unset: INT8 on the CPU, the fp16 graph on a GPU (CUDA runs
    float MatMuls faster than ONNX Runtime's INT8 kernels there)."""
    return spec.quantization or ("none" if placement.device == "cuda" else "dynamic-int8")


def _weight_bytes(resolved: ResolvedModel) -> int:
    return sum(p.stat().st_size for p in resolved.weight_files)


def load_generator(spec: ModelSpec) -> StepperGenerator:
    resolved = resolve_model_source(spec.source, spec.allow_download)
    tokenizer = load_tokenizer(resolved.path, resolved.vocab_size)
    placement = choose_placement(spec, resolved)
    log.info("model %s (%s): %s", spec.name, spec.source, placement.reason)
    stepper, details = _open_stepper(spec, resolved, placement)
    context = min(spec.context_tokens or resolved.max_positions, resolved.max_positions)
    return StepperGenerator(spec.name, stepper, tokenizer, context, spec.kv_sequences,
                            placement, details)


def _open_stepper(spec: ModelSpec, resolved: ResolvedModel, placement: Placement):
    if placement.backend == "torch":
        from codegend.engine.torch.reference_stepper import open_torch_stepper

        return open_torch_stepper(resolved, placement.device), {}
    if placement.backend == "torch-tp":
        from codegend.engine.backend_choice import tp_world_size
        from codegend.engine.torch.tp_stepper import open_tp_stepper

        gpus = cuda_device_count() if placement.device == "cuda" else 0
        world_size = tp_world_size(gpus, _weight_bytes(resolved), None, spec.world_size)
        stepper = open_tp_stepper(resolved.path, world_size, placement.device,
                                  threads_per_rank=spec.threads)
        return stepper, {"world_size": world_size}
    from codegend.engine.build.pipeline import build_onnx_model
    from codegend.engine.onnx.stepper import OnnxStepper, create_session

    result = build_onnx_model(resolved, quantization_for(spec, placement),
                              for_gpu=placement.device == "cuda",
                              options=dict(spec.quantization_options))
    session = create_session(result.artifact.model_path, placement.device, spec.threads)
    return OnnxStepper(session, resolved.max_positions), result.artifact.manifest
