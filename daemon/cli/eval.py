"""`codegend eval`: measure quantization recipes against fp32 on held-out code.

    codegend eval --recipes dynamic-int8,static-int8:method=entropy,int4-weight-only \\
        --heldout ~/src/myproject --json eval.json --plot eval.png

Prints one row per recipe (the fp32 graph first): size, memory, speed and quality.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from codegend.daemon.cli.model_arguments import add_model_source_arguments

DEFAULT_RECIPES = "dynamic-int8,static-int8,int4-weight-only"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_source_arguments(parser)
    parser.add_argument("--recipes", default=DEFAULT_RECIPES, metavar="R1,R2,...",
                        help="recipes to compare with fp32, each NAME[:KEY=VALUE...], e.g. "
                             "static-int8:method=percentile:percentile=99.99 or "
                             "int4-weight-only:algorithm=hqq:block_size=64; list values join "
                             f"with '+' (default: {DEFAULT_RECIPES})")
    parser.add_argument("--heldout", type=Path, default=None, metavar="DIR",
                        help="directory of Python code to measure on (default: the model's "
                             "held-out files)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="also write the full report as JSON")
    parser.add_argument("--plot", type=Path, default=None, metavar="FILE.png",
                        help="also draw quality loss against speed-up (needs matplotlib)")
    parser.add_argument("--windows", type=int, default=16,
                        help="teacher-forced windows of 128 tokens (default 16)")
    parser.add_argument("--probes", type=int, default=32,
                        help="line starts completed greedily (default 32)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="which line starts are drawn")
    parser.add_argument("--sensitivity", type=int, default=0, metavar="N",
                        help="also list the N weight MatMuls each recipe hurts most (measured "
                             "signal-to-noise drop), candidates for exclude_nodes")


def run(args: argparse.Namespace) -> int:
    from codegend.engine.errors import CodegendError
    from codegend.engine.eval.evaluation import EvalSettings, evaluate_recipes
    from codegend.engine.eval.report import format_table, write_json, write_plot
    from codegend.engine.model_source import DEFAULT_MODEL
    from codegend.engine.quant.options import parse_recipe_spec

    specs = [parse_recipe_spec(s) for s in args.recipes.split(",") if s.strip()]
    if args.plot is not None:
        _check_plot_target(args.plot)
    for count, name in ((args.windows, "--windows"), (args.probes, "--probes"),
                        (args.repeats, "--repeats")):
        if count < 1:
            raise CodegendError(f"{name} must be at least 1")
    settings = EvalSettings(windows=args.windows, probes=args.probes, repeats=args.repeats,
                            threads=args.threads, seed=args.seed,
                            sensitivity=max(0, args.sensitivity))
    report = evaluate_recipes(args.model or DEFAULT_MODEL, specs, args.heldout, settings)
    print(format_table(report))
    if args.json is not None:
        write_json(report, args.json)
    if args.plot is not None:
        write_plot(report, args.plot)
    return 0


def _check_plot_target(path: Path) -> None:
    """Fail before minutes of measuring, not after: matplotlib present, a PNG path."""
    import importlib.util

    from codegend.engine.errors import CodegendError

    if path.suffix.lower() != ".png":
        raise CodegendError(f"--plot {path}: the plot is written as PNG; name a .png file")
    if importlib.util.find_spec("matplotlib") is None:
        raise CodegendError("--plot needs matplotlib: pip install 'codegend[bench]' "
                            "(or pip install matplotlib)")
