"""An evaluation report as a table for the terminal, as JSON, and as a plot.

The plot puts every recipe at (decode speed-up over fp32, quality lost): the point a user
wants is far right and low. Marker area follows the artifact's size on disk.
"""

from __future__ import annotations

import json
from pathlib import Path

from codegend.engine.errors import CodegendError
from codegend.engine.eval.evaluation import EvalReport
from codegend.engine.quant.options import LIST_SEPARATOR

COLUMNS = (
    # (header, width, format of one row)
    ("recipe", 0, lambda r, x: r.label),
    ("size MB", 8, lambda r, x: _megabytes(r.size_bytes)),
    ("RSS MB", 7, lambda r, x: f"{r.cost.resident_mb:.0f}"),
    ("TTFT ms", 8, lambda r, x: f"{r.cost.ttft_s * 1e3:.1f}"),
    ("ms/tok", 7, lambda r, x: f"{r.cost.decode_s_per_token * 1e3:.2f}"),
    ("speed-up", 8, lambda r, x: f"{x.decode_speedup(r):.2f}x"),
    ("top-1", 6, lambda r, x: f"{r.quality.top1_agreement:.3f}"),
    ("ppl ratio", 9, lambda r, x: f"{r.quality.perplexity_ratio:.4f}"),
    ("KL", 8, lambda r, x: f"{r.quality.kl_divergence:.2e}"),
    ("greedy=", 7, lambda r, x: f"{r.probes.greedy_exact_match:.3f}"),
    ("line=", 6, lambda r, x: f"{r.probes.next_line_exact_match:.3f}"),
    ("line sim", 8, lambda r, x: f"{r.probes.next_line_edit_similarity:.3f}"),
)


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.2f}" if size < 10e6 else f"{size / 1e6:.0f}"


def format_table(report: EvalReport) -> str:
    label_width = max(len("recipe"), *(len(r.label) for r in report.results))
    widths = [label_width if w == 0 else max(w, len(h)) for h, w, _ in COLUMNS]
    header = "  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                       for i, ((h, _, _), w) in enumerate(zip(COLUMNS, widths, strict=True)))
    lines = [header, "-" * len(header)]
    for result in report.results:
        cells = [fmt(result, report) for _, _, fmt in COLUMNS]
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(cells, widths, strict=True))))
    settings = report.settings
    ref = report.reference
    lines += [
        "",
        f"model {report.model}; held-out code: {report.heldout}",
        f"quality vs {ref.label} over {ref.quality.positions} teacher-forced positions; "
        f"greedy= : {settings.completion_tokens}-token greedy completions identical to fp32's; "
        f"line= / line sim : first completed line vs the real code at "
        f"{ref.probes.probes} line starts",
        f"speed: {settings.threads or 'all physical'} threads, TTFT for "
        f"{ref.cost.prompt_tokens} prompt tokens, decode = median step of "
        f"{settings.decode_tokens}, best of {settings.repeats} rounds; "
        f"took {report.seconds:.0f} s",
    ]
    lines += _sensitivity_lines(report)
    return "\n".join(lines)


def _sensitivity_lines(report: EvalReport) -> list[str]:
    """The MatMuls each recipe hurts most, and the recipe spec that keeps them in float."""
    lines = []
    for result in report.results:
        if not result.most_hurt:
            continue
        lines += ["", f"{result.label}: the weight MatMuls it hurts most (SQNR vs fp32 in dB: "
                      "input -> output, and of the noise the node itself adds)"]
        for node in result.most_hurt:
            lines.append(f"  {node.node:48} {node.sqnr_in_db:6.1f} -> {node.sqnr_out_db:6.1f}"
                         f"   own {node.node_sqnr_db:5.1f}")
        names = LIST_SEPARATOR.join(n.node for n in result.most_hurt[:2])
        lines.append(f"  to keep the worst two in float: {result.label}:exclude_nodes={names}")
    return lines


def write_json(report: EvalReport, path: Path) -> None:
    path.write_text(json.dumps(report.as_dict(), indent=2, sort_keys=True) + "\n")


def write_plot(report: EvalReport, path: Path) -> None:
    """Quality lost (perplexity increase, %) against decode speed-up, one point per recipe."""
    try:
        import matplotlib
    except ImportError:
        raise CodegendError("--plot needs matplotlib: pip install 'codegend[bench]' "
                            "(or pip install matplotlib)") from None
    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5.5), dpi=120)
    largest = max(r.size_bytes for r in report.results)
    for result in report.results:
        x = report.decode_speedup(result)
        y = (result.quality.perplexity_ratio - 1.0) * 100
        axes.scatter([x], [y], s=60 + 540 * result.size_bytes / largest, alpha=0.6)
        axes.annotate(
            f"{result.label}\n{_megabytes(result.size_bytes)} MB, "
            f"top-1 {result.quality.top1_agreement:.1%}",
            (x, y), textcoords="offset points", xytext=(8, 6), fontsize=8)
    axes.axhline(0, color="grey", linewidth=0.8)
    axes.axvline(1, color="grey", linewidth=0.8)
    axes.set_xlabel("decode speed-up over fp32 (x, higher is better)")
    axes.set_ylabel("perplexity increase over fp32 (%, lower is better)")
    axes.set_title(f"Quantization recipes: {Path(report.model).name}\n"
                   f"(marker area: artifact size; held-out: {report.heldout})", fontsize=10)
    axes.margins(0.25)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
