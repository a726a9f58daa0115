"""The table of quantization recipes: one entry per ``quantization:`` value.

Every recipe shares the same pipeline (export → optimize → this recipe's step) and only
says how its own step transforms the optimized graph. ``none`` serves the optimized graph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from codegend.engine.errors import CodegendError
from codegend.engine.onnx_quantize import quantize_dynamic_int8

# (optimized graph, output directory, options) -> manifest fields describing what was done
QuantizeStep = Callable[[Path, Path, dict], dict]


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    quantize: QuantizeStep | None  # None: serve the optimized graph as it is
    defaults: dict = field(default_factory=dict)


RECIPES: dict[str, Recipe] = {
    "none": Recipe("none", "the optimized float graph (fp32 on CPU, fp16 on GPU)", None),
    "dynamic-int8": Recipe(
        "dynamic-int8",
        "INT8 weights (per-channel, symmetric), activations quantized on the fly",
        quantize_dynamic_int8,
        {"per_channel": True},
    ),
}


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise CodegendError(
            f"unknown quantization {name!r} (choose from {', '.join(RECIPES)})"
        ) from None
