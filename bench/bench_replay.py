"""Typing replay: how much of what codegend shows would a user keep, on code it never saw.

Stretches of held-out real files (click, rich, httpx, werkzeug, jinja2, pyparsing, attrs, h11;
commander, js-yaml, markdown-it, semver, cheerio, cockatiel — see bench/replay/held_out.py)
are removed from their files and typed back character by character, with realistic pauses
and the editor's auto-closed brackets and quotes, through the real language server
(``codegend lsp --embedded``). A shown suggestion counts as accepted only when the next
characters typed equal it in full (its first line in full for a multi-line one); word-by-word
partial acceptance is reported apart (bench/replay/judge.py). Reports, per language and in
all: the share of shown suggestions accepted, accepted characters per typed character,
ghost-text characters shown per typed character, latency from keystroke to ghost text p50
and p95, and shown Python suggestions that would make a file that parsed stop parsing.
After each stretch, single-line infill is probed on a few of its lines (an explicit request
for a line's deleted text, the rest of the file after the cursor): exact match is reported.

    python bench/bench_replay.py [--config YAML | --model SOURCE] [--min-confidence X]
        [--suites python,js] [--chars-per-package 400] [--seed 1] [--cps 6]
        [--debounce-ms 75] [--infill-lines 5] [--out bench/results/replay.json]

Without --config or --model it runs the built-in default configuration (what a fresh install
serves), never the user's own config file. Targets: >= 30% of shown suggestions accepted,
<= 1 ghost-text character per typed character, 0 suggestions that break a parseable file,
single-line infill exact match >= 30%.
Run by hand (minutes), not in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.replay.held_out import JS_SOURCES, PYTHON_PACKAGES, pick_stretches  # noqa: E402
from bench.replay.judge import Figures, Shown, Verdict, judge, summarize  # noqa: E402
from bench.replay.lsp_driver import Editor, ScriptRun  # noqa: E402
from bench.replay.server_config import replay_config  # noqa: E402
from bench.replay.typist import Pauses, type_stretch  # noqa: E402

SUITES = {"python": PYTHON_PACKAGES, "js": tuple(JS_SOURCES)}
TARGET_ACCEPTED_SHARE = 0.30
TARGET_GHOST_PER_TYPED = 1.0
TARGET_INFILL_EXACT = 0.30


def shown_suggestions(run: ScriptRun) -> list[Shown]:
    """Each suggestion once, where it was first on screen (answers in time, with text)."""
    seen: set[str] = set()
    shown = []
    for answer in run.answers:
        if not answer.in_time or not answer.text:
            continue
        if answer.shown_id and answer.shown_id in seen:
            continue
        seen.add(answer.shown_id)
        shown.append(Shown(answer.keystroke, answer.text, answer.latency_ms, answer.source))
    return shown


def figures_by_language(runs: list[ScriptRun]) -> dict[str, Figures]:
    judged: dict[str, list[tuple[Shown, Verdict]]] = {}
    typed: dict[str, int] = {}
    for run in runs:
        language = run.script.stretch.language
        parsed: dict[int, bool] = {}
        verdicts = [(s, judge(run.script, s, parsed)) for s in shown_suggestions(run)]
        for key in (language, "all"):
            judged.setdefault(key, []).extend(verdicts)
            typed[key] = typed.get(key, 0) + len(run.script.keystrokes)
    return {key: summarize(typed[key], judged[key]) for key in judged}


def infill_by_language(runs: list[ScriptRun]) -> dict[str, dict[str, Any]]:
    found: dict[str, list[bool]] = {}
    for run in runs:
        for key in (run.script.stretch.language, "all"):
            found.setdefault(key, []).extend(probe.exact for probe in run.infill)
    return {key: {"probes": len(v), "exact": sum(v),
                  "exact_match": round(sum(v) / len(v), 4) if v else None}
            for key, v in found.items()}


def suggestion_rows(runs: list[ScriptRun]) -> list[dict[str, Any]]:
    rows = []
    for run in runs:
        parsed: dict[int, bool] = {}
        for shown in shown_suggestions(run):
            verdict = judge(run.script, shown, parsed)
            rows.append({"stretch": run.script.stretch.label, "keystroke": shown.keystroke,
                         "text": shown.text, "source": shown.source,
                         "latency_ms": round(shown.latency_ms, 1), **verdict.__dict__})
    return rows


async def run_replay(
    command: list[str], env: dict[str, str], scripts: list, debounce_ms: int,
    ready_timeout_s: float, infill_lines: int = 0,
) -> tuple[list[ScriptRun], dict[str, Any]]:
    editor = Editor(command, env, debounce_ms)
    await editor.start(ready_timeout_s)
    try:
        runs = [await editor.type_script(script, infill_lines) for script in scripts]
        counters = await editor.stats()
    finally:
        await editor.stop()
    return runs, counters


def print_report(figures: dict[str, Figures], infill: dict[str, dict[str, Any]]) -> None:
    header = (f"{'':<11}{'typed':>6}{'shown':>6}{'accept':>8}{'acc/typ':>9}{'part/typ':>9}"
              f"{'ghost/typ':>10}{'acc/ghost':>10}{'p50 ms':>8}{'p95 ms':>8}{'breaks':>9}")
    print(header)
    for key, f in figures.items():
        share = f"{f.accepted_share:.1%}" if f.accepted_share is not None else "-"
        per_ghost = f"{f.accepted_chars_per_shown_char:.3f}" \
            if f.accepted_chars_per_shown_char is not None else "-"
        print(f"{key:<11}{f.typed_chars:>6}{f.shown:>6}{share:>8}"
              f"{f.accepted_chars_per_typed:>9.3f}{f.partial_chars_per_typed:>9.3f}"
              f"{f.ghost_chars_per_typed:>10.3f}{per_ghost:>10}"
              f"{f.latency_ms_p50 if f.latency_ms_p50 is not None else '-':>8}"
              f"{f.latency_ms_p95 if f.latency_ms_p95 is not None else '-':>8}"
              f"{f'{f.breaking}/{f.judged_for_parsing}':>9}")
    total = figures.get("all")
    if total is not None and total.accepted_share is not None:
        print(f"targets: accepted {total.accepted_share:.1%} (>= {TARGET_ACCEPTED_SHARE:.0%}), "
              f"ghost/typed {total.ghost_chars_per_typed:.2f} (<= {TARGET_GHOST_PER_TYPED}), "
              f"breaking {total.breaking} (0)")
    for key, row in infill.items():
        if row["probes"]:
            print(f"single-line infill exact match, {key}: {row['exact']}/{row['probes']} "
                  f"= {row['exact_match']:.1%} (>= {TARGET_INFILL_EXACT:.0%})")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", help="a daemon YAML config (routes pick models)")
    source.add_argument("--model", help="one model source serving every language")
    parser.add_argument("--min-confidence", type=float,
                        help="override every model's min_confidence (0: the gate off)")
    parser.add_argument("--suites", default="python,js", help="python and/or js, by commas")
    parser.add_argument("--chars-per-package", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1, help="picks files, stretches, pauses")
    parser.add_argument("--cps", type=float, default=6.0,
                        help="median typing speed (0: wait for each answer, no pauses)")
    parser.add_argument("--line-pause", type=float, default=0.8, help="seconds, median")
    parser.add_argument("--debounce-ms", type=int, default=75)
    parser.add_argument("--infill-lines", type=int, default=5,
                        help="lines per stretch probed for single-line infill (0: none)")
    parser.add_argument("--ready-timeout", type=float, default=600.0)
    parser.add_argument("--server-command", help=argparse.SUPPRESS)  # tests: a scripted server
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "replay.json"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    packages = tuple(p for suite in args.suites.split(",") for p in SUITES[suite.strip()])
    stretches = pick_stretches(packages, args.chars_per_package, args.seed)
    pauses = Pauses(cps=args.cps, line_pause_s=args.line_pause, seed=args.seed)
    scripts = [type_stretch(stretch, pauses) for stretch in stretches]
    _, config_text = replay_config(args.config, args.model, args.min_confidence)
    with tempfile.TemporaryDirectory(prefix="codegend-replay-") as scratch:
        config_file = Path(scratch) / "config.yaml"
        config_file.write_text(config_text)
        # Fresh state and no user config file: the run depends on its arguments only.
        env = {**os.environ, "XDG_STATE_HOME": f"{scratch}/state",
               "XDG_CONFIG_HOME": f"{scratch}/config"}
        command = shlex.split(args.server_command) if args.server_command else [
            sys.executable, "-m", "codegend", "lsp", "--embedded", "--config", str(config_file)]
        runs, counters = asyncio.run(
            run_replay(command, env, scripts, args.debounce_ms, args.ready_timeout,
                       args.infill_lines))
    figures = figures_by_language(runs)
    infill = infill_by_language(runs)
    print_report(figures, infill)
    report = {
        "command": shlex.join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "config": config_text,
        "seed": args.seed, "pauses": pauses.__dict__, "debounce_ms": args.debounce_ms,
        "figures": {key: f.as_dict() for key, f in figures.items()},
        "infill": infill,
        "infill_probes": [{"stretch": r.script.stretch.label, "expected": p.expected,
                           "suggested": p.suggested, "exact": p.exact}
                          for r in runs for p in r.infill],
        "stretches": [{"label": r.script.stretch.label, "language": r.script.stretch.language,
                       "typed": len(r.script.keystrokes), "errors": r.errors,
                       "unclosed": r.script.cleanup} for r in runs],
        "server_counters": counters,
        "suggestions": suggestion_rows(runs),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
