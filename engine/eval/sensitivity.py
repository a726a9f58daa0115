"""Which weight MatMuls a recipe hurts most, measured: the candidates for ``exclude_nodes``.

Both graphs (fp32 and quantized) run the same token windows; for every weight MatMul of the
fp32 graph we read its input and its output in both. The noise-to-signal ratio of the input says
how much error arrived from upstream; that of the output, how much is there after this node.
Relative noise passes through a MatMul roughly unchanged, so the difference is what this
node's own quantization added; we report it as the node's own SQNR (dB, lower is worse) and
rank by it, rather than by the output's error, which only grows with depth. Every recipe
keeps the names of these tensors, so one measurement fits them all.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from codegend.engine.quant.calibration import prefill_feeds
from codegend.engine.quant.graph_helpers import run_exposed, weight_matmuls

MAX_SQNR_DB = 150.0  # beyond float32 round-off: "no difference"


@dataclass(frozen=True)
class NodeSensitivity:
    node: str  # the weight MatMul's name in the fp32 graph
    sqnr_in_db: float  # its input, quantized graph vs fp32 (MAX_SQNR_DB: identical)
    sqnr_out_db: float  # its output
    node_sqnr_db: float  # the SQNR of the noise this node added on its own (lower: worse)

    def as_dict(self) -> dict:
        return asdict(self)


def sqnr_db(reference: np.ndarray, candidate: np.ndarray) -> float:
    """10 log10(signal / noise), capped at MAX_SQNR_DB (identical tensors reach the cap)."""
    noise = float(np.square(reference.astype(np.float64) - candidate).sum())
    signal = float(np.square(reference.astype(np.float64)).sum())
    if noise == 0.0:
        return MAX_SQNR_DB
    return min(MAX_SQNR_DB, 10.0 * math.log10(max(signal, 1e-30) / noise))


def matmul_sensitivity(float_graph: Path, quantized_graph: Path,
                       sequences: list[list[int]], threads: int | None = None
                       ) -> list[NodeSensitivity]:
    """Weight MatMuls ranked by the SQNR their quantization cost, worst first."""
    import onnx

    matmuls = weight_matmuls(onnx.load(str(float_graph), load_external_data=False))
    tensors = sorted({t for _, x, y in matmuls for t in (x, y)})
    feeds = prefill_feeds(float_graph, sequences)
    reference = _intermediates(float_graph, tensors, feeds, threads)
    candidate = _intermediates(quantized_graph, tensors, feeds, threads)
    ranked = []
    for name, x, y in matmuls:
        if x not in candidate or y not in candidate:
            continue  # a recipe that renamed the tensor: nothing to compare
        sqnr_in = sqnr_db(np.concatenate(reference[x]), np.concatenate(candidate[x]))
        sqnr_out = sqnr_db(np.concatenate(reference[y]), np.concatenate(candidate[y]))
        ranked.append(NodeSensitivity(name, sqnr_in, sqnr_out, added_sqnr_db(sqnr_in,
                                                                             sqnr_out)))
    return sorted(ranked, key=lambda s: s.node_sqnr_db)


def added_sqnr_db(sqnr_in: float, sqnr_out: float) -> float:
    """The SQNR of the noise added between input and output (noise-to-signal ratios add)."""
    added = 10.0 ** (-sqnr_out / 10.0) - 10.0 ** (-sqnr_in / 10.0)
    if added <= 10.0 ** (-MAX_SQNR_DB / 10.0):
        return MAX_SQNR_DB
    return min(MAX_SQNR_DB, -10.0 * math.log10(added))


def _intermediates(graph_path: Path, tensors: list[str], feeds: list[dict],
                   threads: int | None) -> dict[str, list[np.ndarray]]:
    """Every window's value of each of ``tensors`` the graph produces, flattened."""
    values: dict[str, list[np.ndarray]] = {}
    for window in run_exposed(graph_path, tensors, feeds, threads):
        for name, value in window.items():
            values.setdefault(name, []).append(value.ravel())
    return values
