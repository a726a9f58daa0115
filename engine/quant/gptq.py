"""GPTQ for MatMulNBits: 4-bit rounding that compensates its own error (Frantar et al. 2022).

Round-to-nearest quantizes each weight alone. GPTQ quantizes the rows of a MatMul's weight
``W [K in, N out]`` one input channel at a time and spreads each row's rounding error over
the rows not yet quantized, weighted by how the layer's real inputs correlate: the Hessian
``H = 2 XᵀX / n`` of the layer's squared output error, ``X`` being its inputs on a
calibration set of code. With ``U`` the upper Cholesky factor of ``H⁻¹`` the update after
row ``k`` is ``W[k+1:] -= U[k, k+1:]ᵀ ⊗ (W[k] - Q[k]) / U[k, k]``. Block scales and zero
points are fixed from the (already updated) weights when a block starts, so the integer
codes sit exactly on the grid that MatMulNBits stores.

Inputs come from the float graph in one pass (all layers calibrated on fp32 activations).
We write our own because the GPTQ that ONNX Runtime 1.31 vendors takes a column of ``U``
where it needs a row and so never compensates (tests/engine/quant/test_int4.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from codegend.engine.quant.graph_helpers import run_exposed, weight_matmuls

log = logging.getLogger(__name__)

DAMPING = 0.01  # share of the mean Hessian diagonal added to it, for a stable inverse
LAZY_ROWS = 128  # rows updated together before the rest of W is updated by one GEMM


def input_hessians(graph: Path, feeds: list[dict], inputs: list[str],
                   threads: int | None = None) -> dict[str, np.ndarray]:
    """``H = 2 XᵀX / n`` for each input tensor, accumulated window by window."""
    sums: dict[str, np.ndarray] = {}
    rows: dict[str, int] = {}
    for window in run_exposed(graph, inputs, feeds, threads):
        for name, value in window.items():
            x = value.reshape(-1, value.shape[-1]).astype(np.float64)
            sums[name] = sums.get(name, 0) + x.T @ x
            rows[name] = rows.get(name, 0) + len(x)
    return {name: 2.0 * total / rows[name] for name, total in sums.items()}


def block_grid(block: np.ndarray, symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
    """Scale and zero point per output column for one block of rows ``[rows, N]``."""
    low = np.minimum(block.min(axis=0), 0.0)
    high = np.maximum(block.max(axis=0), 0.0)
    if symmetric:
        high = np.maximum(-low, high)
        scale = high / 7.0
        zero = np.full(block.shape[1], 8.0)
    else:
        scale = (high - low) / 15.0
        scale_safe = np.where(scale == 0, 1.0, scale)
        zero = np.clip(np.round(-low / scale_safe), 0, 15)
    return np.where(scale == 0, 1.0, scale), zero


def gptq_codes(weight: np.ndarray, hessian: np.ndarray, block_size: int,
               symmetric: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """4-bit codes ``[K, N]`` (0..15), scales and zero points ``[k_blocks, N]``."""
    w = weight.astype(np.float64).copy()
    k_rows = w.shape[0]
    h = hessian.copy()
    dead = np.diag(h) == 0
    h[dead, dead] = 1.0
    w[dead, :] = 0.0
    h[np.diag_indices(k_rows)] += DAMPING * np.mean(np.diag(h))
    upper = np.linalg.cholesky(np.linalg.inv(h)).T  # H⁻¹ = UᵀU
    blocks = -(-k_rows // block_size)
    codes = np.zeros(w.shape, dtype=np.uint8)
    scales = np.zeros((blocks, w.shape[1]))
    zeros = np.zeros((blocks, w.shape[1]))
    for start in range(0, k_rows, LAZY_ROWS):
        end = min(start + LAZY_ROWS, k_rows)
        errors = np.zeros((end - start, w.shape[1]))
        for k in range(start, end):
            if k % block_size == 0:
                b = k // block_size
                scales[b], zeros[b] = block_grid(w[k:k + block_size], symmetric)
            scale, zero = scales[k // block_size], zeros[k // block_size]
            q = np.clip(np.round(w[k] / scale) + zero, 0, 15)
            codes[k] = q
            error = (w[k] - (q - zero) * scale) / upper[k, k]
            w[k + 1:end] -= np.outer(upper[k, k + 1:end], error)
            errors[k - start] = error
        w[end:] -= upper[start:end, end:].T @ errors
    return codes, scales.astype(np.float32), zeros.astype(np.uint8)


def pack_matmul_nbits(codes: np.ndarray, scales: np.ndarray, zeros: np.ndarray,
                      block_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MatMulNBits' layout: B ``[N, blocks, block/2]`` and zero points two per byte, low
    nibble first; scales ``[N * blocks]``."""
    k_rows, n_cols = codes.shape
    blocks = scales.shape[0]
    padded = np.zeros((blocks * block_size, n_cols), dtype=np.uint8)
    padded[:k_rows] = codes
    per_column = padded.T.reshape(n_cols, blocks, block_size)
    packed = per_column[..., 0::2] | (per_column[..., 1::2] << 4)
    zero_columns = zeros.T  # [N, blocks]
    if blocks % 2:
        zero_columns = np.concatenate([zero_columns, np.full((n_cols, 1), 8, np.uint8)], 1)
    packed_zeros = zero_columns[:, 0::2] | (zero_columns[:, 1::2] << 4)
    return (np.ascontiguousarray(packed), np.ascontiguousarray(scales.T).reshape(-1),
            np.ascontiguousarray(packed_zeros).reshape(-1))


def apply_gptq(model, graph: Path, feeds: list[dict], block_size: int, symmetric: bool,
               excluded: list[str], threads: int | None = None) -> int:
    """Replace every weight MatMul of ``model`` (loaded from ``graph``) by a GPTQ-quantized
    MatMulNBits, in place; returns how many."""
    import onnx
    from onnx import numpy_helper

    targets = [m for m in weight_matmuls(model) if m[0] not in excluded]
    hessians = input_hessians(graph, feeds, sorted({x for _, x, _ in targets}), threads)
    initializers = {t.name: t for t in model.graph.initializer}
    nodes = {n.name: n for n in model.graph.node}
    for name, x, _ in targets:
        node = nodes[name]
        weight = numpy_helper.to_array(initializers[node.input[1]])
        if weight.ndim != 2 or x not in hessians:
            continue
        log.debug("GPTQ %s %s", name, weight.shape)
        codes, scales, zeros = gptq_codes(weight, hessians[x], block_size, symmetric)
        packed, flat_scales, packed_zeros = pack_matmul_nbits(codes, scales, zeros, block_size)
        prefix = node.input[1]
        model.graph.initializer.extend([
            numpy_helper.from_array(packed, prefix + "_gptq_q4"),
            numpy_helper.from_array(flat_scales, prefix + "_gptq_scales"),
            numpy_helper.from_array(packed_zeros, prefix + "_gptq_zero_points")])
        replacement = onnx.helper.make_node(
            "MatMulNBits", [node.input[0], prefix + "_gptq_q4", prefix + "_gptq_scales",
                            prefix + "_gptq_zero_points"],
            list(node.output), name=name + "_Q4", domain="com.microsoft",
            K=weight.shape[0], N=weight.shape[1], bits=4, block_size=block_size)
        node.CopyFrom(replacement)
    used = {i for n in model.graph.node for i in n.input}
    kept = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    return sum(1 for n in model.graph.node if n.op_type == "MatMulNBits")
