"""What a model is and how to run it: the one spec type, from YAML or from the command line.

The daemon reads each ``models:`` entry of its config into a :class:`ModelSpec` (its parser
adds line numbers to every error and requires ``name`` and ``source``); the CLI builds one
from its options; the loader turns one into a running generator. The backend and device
vocabularies are defined here once and checked by everyone who reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from codegend.engine.errors import CodegendError
from codegend.engine.fim import FIM_ORDERS, FimOrder
from codegend.engine.model_source import DEFAULT_MODEL

# What a spec may ask for. "torch" is the transformers reference: only ever named, never
# chosen by "auto" (see placement.py).
Backend = Literal["auto", "onnx", "torch", "torch-tp"]
Device = Literal["auto", "cpu", "cuda"]
BACKENDS: tuple[str, ...] = get_args(Backend)
DEVICES: tuple[str, ...] = get_args(Device)


def _bounds(low: float | None = None, high: float | None = None) -> dict[str, Any]:
    """The range a numeric field accepts; the config parser reports values outside it."""
    return {"min": low, "max": high}


@dataclass(frozen=True)
class ModelSpec:
    name: str = "default"  # how the daemon and clients refer to this model
    source: str = DEFAULT_MODEL  # builtin:NAME, a local model directory, or a cached hub id
    backend: Backend = "auto"
    device: Device = "auto"
    # A recipe with optional options, e.g. "int4-weight-only:algorithm=gptq:block_size=64";
    # None: static-int8 on the CPU (deterministic under KV reuse), none (fp16) on a GPU.
    quantization: str | None = None
    context_tokens: int | None = field(default=None, metadata=_bounds(8))  # None: the model's
    max_new_tokens: int = field(default=64, metadata=_bounds(1))
    threads: int | None = field(default=None, metadata=_bounds(1))  # None: physical cores
    world_size: int | None = field(default=None, metadata=_bounds(1))  # torch-tp ranks
    allow_download: bool = False  # fetch a hub id that is not in the local cache
    # Documents whose KV caches are kept (live one included), so interleaved editors keep
    # their prefix reuse.
    kv_cache_sequences: int = field(default=4, metadata=_bounds(1, 64))
    # Prompt-lookup speculative decoding: the most drafted tokens a forward pass verifies
    # (engine/prompt_lookup.py); 0 decodes one token per pass.
    draft_tokens: int = field(default=8, metadata=_bounds(0, 32))
    # The language server hides automatic suggestions scored below this (a probability; see
    # lsp/pipeline/confidence_gate.py). The engine never reads it: it travels with the
    # model's facts. None: the default calibrated for the built-in models.
    min_confidence: float | None = field(default=None, metadata=_bounds(0, 1))
    # Fill-in-the-middle: "auto" uses the template the tokenizer's control tokens name (SPM
    # where the family was trained for it), "psm"/"spm" ask for an order, "none" never.
    fim: FimOrder = "auto"

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise CodegendError(f"backend {self.backend!r}: choose from {', '.join(BACKENDS)}")
        if self.device not in DEVICES:
            raise CodegendError(f"device {self.device!r}: choose from {', '.join(DEVICES)}")
        if self.fim not in FIM_ORDERS:
            raise CodegendError(f"fim {self.fim!r}: choose from {', '.join(FIM_ORDERS)}")

    def recipe(self) -> tuple[str | None, dict]:
        """The quantization recipe's name and full, checked options; (None, {}) when unset."""
        from codegend.engine.quant.recipes import parse_recipe

        return parse_recipe(self.quantization) if self.quantization else (None, {})
