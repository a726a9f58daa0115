"""Calibrate the confidence gate on the typing replay: which score, which threshold.

The replay's stretches of held-out code (bench/replay/) are typed through the completion
pipeline in this process (``run_pipeline`` on the embedded daemon core, the gate off), so
every keystroke the trigger lets through gets the model's suggestion and the log-probabilities
of its tokens. Each score in ``confidence_gate.SCORES`` and each threshold is then replayed
exactly as the server would behave: a suggestion on screen stays while the user types along
it (the completion cache), otherwise the keystroke's fresh suggestion shows if its score
passes and it would have arrived before the next keystroke (debounce + measured latency <
the typist's pause). Every simulated session is judged like the LSP replay (judge.py).

Chosen: the score and threshold with the most accepted characters per typed character among
those meeting the targets (>= 30% of shown suggestions accepted, <= 1 ghost character per
typed character); when none meets them, the one with the most accepted characters per shown
character among those keeping at least half of the gate-off accepted characters. Writes the
curves (JSON) and a plot of accepted characters per shown character against the threshold.

    python bench/calibrate_confidence.py [--config YAML | --model SOURCE] [--suites python,js]
        [--seeds 2,3] [--chars-per-package 400] [--cps 6] [--debounce-ms 75]

Calibrate on seeds the replay's report does not use (it defaults to seed 1), so the reported
figures are held out from the choice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_replay import SUITES, TARGET_ACCEPTED_SHARE, TARGET_GHOST_PER_TYPED  # noqa: E402
from bench.replay.held_out import pick_stretches  # noqa: E402
from bench.replay.judge import Figures, Shown, Verdict, judge, summarize  # noqa: E402
from bench.replay.server_config import replay_config  # noqa: E402
from bench.replay.typist import Pauses, Script, type_stretch  # noqa: E402
from codegend.lsp.pipeline.confidence_gate import SCORES, Confidence  # noqa: E402
from codegend.lsp.pipeline.cursor import CursorContext  # noqa: E402
from codegend.lsp.pipeline.model_facts import ModelFacts  # noqa: E402
from codegend.lsp.pipeline.run import run_pipeline  # noqa: E402
from codegend.lsp.pipeline.stop_rules import ends_with_open_paren  # noqa: E402
from codegend.lsp.pipeline.trigger import should_complete  # noqa: E402

THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(20))  # 0.00 .. 0.95


@dataclass(frozen=True)
class Candidate:
    """The model's suggestion after one keystroke, before any gate."""

    text: str
    confidence: Confidence
    after_paren_block: bool  # a multi-line argument list after "(": judged as a whole too
    latency_ms: float


def cursor_at(script: Script, k: int) -> CursorContext:
    document, offset = script.document(k), script.cursor(k)
    line_start = document.rfind("\n", 0, offset) + 1
    return CursorContext(tuple(document.splitlines(True)), document.count("\n", 0, offset),
                         offset - line_start, script.stretch.language,
                         f"file:///calibrate/{script.stretch.label}",
                         str(script.stretch.path))


async def candidates_of(script: Script, client: Any) -> dict[int, Candidate]:
    facts = ModelFacts()
    found = {}
    for k in range(len(script.keystrokes)):
        cursor = cursor_at(script, k)
        if not should_complete(cursor, invoked=False).complete:
            continue
        started = time.perf_counter()
        result = await run_pipeline(cursor, client, invoked=False, max_completion="auto",
                                    facts=facts)
        latency = (time.perf_counter() - started) * 1000
        if result.text and result.confidence is not None:
            paren = ends_with_open_paren(cursor.line_prefix) and "\n" in result.text
            found[k] = Candidate(result.text, result.confidence, paren, latency)
    return found


def simulate(
    script: Script, found: dict[int, Candidate], score: str, threshold: float, debounce_ms: int
) -> list[Shown]:
    """The suggestions a session with this gate would show, as the server would: the cache
    keeps one on screen while the edits insert its next characters."""
    shown: list[Shown] = []
    remaining = ""
    for k, key in enumerate(script.keystrokes):
        if remaining and key.removed == 0 and remaining.startswith(key.inserted):
            remaining = remaining[len(key.inserted):]
            if remaining:
                continue  # still on screen, answered from the cache
        remaining = ""
        candidate = found.get(k)
        if candidate is None:
            continue
        passes = candidate.confidence.score(score) >= threshold and not (
            candidate.after_paren_block
            and candidate.confidence.score(score, whole=True) < threshold)
        in_time = key.pause_s is None or debounce_ms + candidate.latency_ms < key.pause_s * 1000
        if passes and in_time:
            shown.append(Shown(k, candidate.text, candidate.latency_ms + debounce_ms, "model"))
            remaining = candidate.text
    return shown


def sweep(
    scripts: list[Script], found: list[dict[int, Candidate]], debounce_ms: int
) -> dict[str, list[dict[str, Any]]]:
    curves: dict[str, list[dict[str, Any]]] = {}
    typed = sum(len(s.keystrokes) for s in scripts)
    # A verdict depends only on the script and the keystroke (the text shown there is that
    # keystroke's candidate), so each is judged once for the whole sweep.
    verdicts: dict[tuple[int, int], Verdict] = {}
    parsed: list[dict[int, bool]] = [{} for _ in scripts]

    def verdict(index: int, shown: Shown) -> Verdict:
        key = (index, shown.keystroke)
        if key not in verdicts:
            verdicts[key] = judge(scripts[index], shown, parsed[index])
        return verdicts[key]

    for score in SCORES:
        for threshold in THRESHOLDS:
            judged = []
            for index, candidates in enumerate(found):
                shown = simulate(scripts[index], candidates, score, threshold, debounce_ms)
                judged += [(s, verdict(index, s)) for s in shown]
            figures = summarize(typed, judged)
            curves.setdefault(score, []).append({"threshold": threshold, **figures.as_dict()})
    return curves


def choose(curves: dict[str, list[dict[str, Any]]]) -> tuple[str, dict[str, Any], str]:
    """(score, its point, why) by the rule in the module docstring."""
    points = [(score, p) for score, rows in curves.items() for p in rows]
    meets = [(s, p) for s, p in points if p["accepted_share"] is not None
             and p["accepted_share"] >= TARGET_ACCEPTED_SHARE
             and p["ghost_chars_per_typed"] <= TARGET_GHOST_PER_TYPED]
    if meets:
        score, point = max(meets, key=lambda sp: sp[1]["accepted_chars_per_typed"])
        return score, point, "most accepted characters per typed character meeting the targets"
    ungated = max(p["accepted_chars_per_typed"] for _, p in points if p["threshold"] == 0)
    kept = [(s, p) for s, p in points if p["accepted_chars_per_shown_char"] is not None
            and p["accepted_chars_per_typed"] >= ungated / 2]
    score, point = max(kept, key=lambda sp: sp[1]["accepted_chars_per_shown_char"])
    return score, point, ("targets out of reach: most accepted characters per shown character "
                          "keeping half of the gate-off accepted characters")


def plot(curves: dict[str, list[dict[str, Any]]], chosen: tuple[str, float], path: Path,
         title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 8), sharex=True)
    for score, rows in curves.items():
        xs = [r["threshold"] for r in rows]
        top.plot(xs, [r["accepted_chars_per_shown_char"] or 0 for r in rows], marker=".",
                 label=f"{score} of first-line token log-probs")
        if score == chosen[0]:
            bottom.plot(xs, [r["accepted_share"] or 0 for r in rows], label="shown accepted")
            bottom.plot(xs, [r["ghost_chars_per_typed"] for r in rows],
                        label="ghost chars per typed char")
            bottom.plot(xs, [r["accepted_chars_per_typed"] for r in rows],
                        label="accepted chars per typed char")
    for axis in (top, bottom):
        axis.axvline(chosen[1], color="grey", linestyle="--", linewidth=1)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    top.set_ylabel("accepted chars per shown char")
    top.set_title(title, fontsize=9)
    bottom.axhline(TARGET_ACCEPTED_SHARE, color="tab:blue", linestyle=":", linewidth=1)
    bottom.set_ylabel(f"score '{chosen[0]}'")
    bottom.set_xlabel("min_confidence (threshold on exp(score))")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


async def collect(scripts: list[Script], config_text: str) -> list[dict[int, Candidate]]:
    from codegend.daemon.client.connect import open_client

    with tempfile.TemporaryDirectory(prefix="codegend-calibrate-") as scratch:
        config_file = Path(scratch) / "config.yaml"
        config_file.write_text(config_text)
        client = await open_client(config_file, embedded=True)
        try:
            while not any(m.state == "ready" for m in await client.models()):
                if any(m.state == "failed" for m in await client.models()):
                    raise SystemExit(f"the model failed to load: {await client.models()}")
                await asyncio.sleep(0.2)
            found = []
            for script in scripts:
                started = time.perf_counter()
                found.append(await candidates_of(script, client))
                print(f"{script.stretch.label}: {len(script.keystrokes)} keystrokes, "
                      f"{len(found[-1])} suggestions, {time.perf_counter() - started:.0f} s",
                      flush=True)
            return found
        finally:
            await client.aclose()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config")
    source.add_argument("--model")
    parser.add_argument("--suites", default="python,js")
    parser.add_argument("--seeds", default="2,3", help="one set of stretches per seed")
    parser.add_argument("--chars-per-package", type=int, default=400)
    parser.add_argument("--cps", type=float, default=6.0)
    parser.add_argument("--line-pause", type=float, default=0.8)
    parser.add_argument("--debounce-ms", type=int, default=75)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" /
                                             "confidence_calibration.json"))
    args = parser.parse_args(argv)
    packages = tuple(p for suite in args.suites.split(",") for p in SUITES[suite.strip()])
    scripts = []
    for seed in (int(s) for s in args.seeds.split(",")):
        pauses = Pauses(cps=args.cps, line_pause_s=args.line_pause, seed=seed)
        scripts += [type_stretch(st, pauses)
                    for st in pick_stretches(packages, args.chars_per_package, seed)]
    _, config_text = replay_config(args.config, args.model, 0.0)  # the gate off
    found = asyncio.run(collect(scripts, config_text))
    curves = sweep(scripts, found, args.debounce_ms)
    score, point, why = choose(curves)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    png = out.with_suffix(".png")
    source_name = args.config or args.model or "built-in default"
    plot(curves, (score, point["threshold"]), png,
         f"{source_name}, {sum(len(s.keystrokes) for s in scripts)} typed chars, "
         f"suites {args.suites}, seeds {args.seeds}: chosen {score} >= {point['threshold']}")
    report = {"command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
              "config": config_text, "chosen": {"score": score, **point, "why": why},
              "typed_chars": sum(len(s.keystrokes) for s in scripts),
              "stretches": [s.stretch.label for s in scripts], "curves": curves}
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"chosen: {score} >= {point['threshold']} ({why}): "
          f"{json.dumps({k: point[k] for k in Figures.__dataclass_fields__})}")
    print(f"wrote {out} and {png}")
    return report


if __name__ == "__main__":
    main()
