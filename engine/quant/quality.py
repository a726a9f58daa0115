"""How much a quantized graph departs from the fp32 one, measured on held-out code.

Both graphs read the same token sequences (teacher forcing); at every position we compare
the next-token distributions: top-1 agreement, the perplexity of the real next token, and
the KL divergence from the reference distribution.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class QualityReport:
    positions: int
    top1_agreement: float  # share of positions where both graphs rank the same token first
    perplexity_reference: float
    perplexity_candidate: float
    perplexity_ratio: float  # candidate / reference; 1.0 is lossless
    kl_divergence: float  # mean KL(reference || candidate) in nats

    def as_dict(self) -> dict:
        return asdict(self)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def compare_logits(
    reference: list[np.ndarray], candidate: list[np.ndarray], sequences: list[list[int]]
) -> QualityReport:
    """``reference[i]``/``candidate[i]``: logits ``[T, V]`` for ``sequences[i]`` (length T)."""
    agree = positions = 0
    nll_ref = nll_cand = kl = 0.0
    for ref, cand, ids in zip(reference, candidate, sequences, strict=True):
        targets = np.asarray(ids[1:])
        ref_lp, cand_lp = _log_softmax(ref[:-1]), _log_softmax(cand[:-1])
        rows = np.arange(len(targets))
        agree += int((ref_lp.argmax(-1) == cand_lp.argmax(-1)).sum())
        nll_ref -= float(ref_lp[rows, targets].sum())
        nll_cand -= float(cand_lp[rows, targets].sum())
        kl += float((np.exp(ref_lp) * (ref_lp - cand_lp)).sum())
        positions += len(targets)
    assert positions > 0, "quality needs at least one sequence of two or more tokens"
    ppl_ref, ppl_cand = np.exp(nll_ref / positions), np.exp(nll_cand / positions)
    return QualityReport(
        positions=positions,
        top1_agreement=agree / positions,
        perplexity_reference=float(ppl_ref),
        perplexity_candidate=float(ppl_cand),
        perplexity_ratio=float(ppl_cand / ppl_ref),
        kl_divergence=max(0.0, kl / positions),
    )


def onnx_logits(model_path: Path, sequences: list[list[int]], max_positions: int,
                threads: int | None = None) -> list[np.ndarray]:
    """Teacher-forced logits of every sequence through one ONNX graph on the CPU."""
    from codegend.engine.onnx.stepper import OnnxStepper, create_session

    stepper = OnnxStepper(create_session(model_path, "cpu", threads), max_positions)
    results = []
    for ids in sequences:
        stepper.truncate(0)
        results.append(stepper.feed_all(ids))
    stepper.close()
    return results


def compare_graphs(reference: Path, candidate: Path, sequences: list[list[int]],
                   max_positions: int) -> QualityReport:
    return compare_logits(
        onnx_logits(reference, sequences, max_positions),
        onnx_logits(candidate, sequences, max_positions),
        sequences,
    )
