"""Prompt-lookup speculation on a typing replay of held-out real code, with and without, side
by side in one run.

The replay types real third-party Python files (click, rich, httpx from site-packages: code
the default model never saw) in bursts of consecutive characters from seeded random points
and asks for a completion after each keystroke, as the language server would: the mode
(line or block) by the server's rule, the block's end by its stop rule, token healing on,
one sequence key per file so typing reuses the KV prefix. Each request runs on two
generators over the same artifact, one with prompt lookup and one without, alternating which
goes first, so load from other processes hits both alike.

Reported: generated tokens per forward pass; time per generated token over the whole
generation (with prefix reuse its first pass feeds a few tokens) and over the decode phase
(after the first pass); how many completions differ between the two arms (greedy: none,
unless the model's numerics depend on how many tokens a pass holds, as dynamic INT8's
per-tensor activation scale does).

The CodeGen-350M shape (bench_engine's random model) cannot copy code, so its drafts would
all be rejected; instead it replays the default model's passes: for each request the same
draft lengths and accepted counts, drafts scripted from its own greedy tokens. That measures
what the verify width costs on a model 40x larger, at the acceptance real code gave.

    python bench/bench_speculative.py [--requests 240] [--burst 6] [--big-requests 60]
        [--threads 2] [--draft 8] [--quantization none] [--no-big]

Prints a table and writes bench/results/speculative.json. Run by hand, not in CI.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codegend.daemon.routing import LANGUAGE_OF_SUFFIX  # noqa: E402
from codegend.engine.generate import StepperGenerator  # noqa: E402
from codegend.engine.loader import load_generator  # noqa: E402
from codegend.engine.model_spec import ModelSpec  # noqa: E402
from codegend.engine.prompt_lookup import LookupConfig  # noqa: E402
from codegend.engine.types import GenerationStats, PromptParts, SamplingParams  # noqa: E402
from codegend.lsp.pipeline.completion_mode import choose_mode  # noqa: E402
from codegend.lsp.pipeline.cursor import CursorContext  # noqa: E402
from codegend.lsp.pipeline.stop_rules import StreamingStop, stop_rule_for  # noqa: E402

HELD_OUT = [("click", "termui.py"), ("click", "types.py"), ("rich", "table.py"),
            ("rich", "text.py"), ("httpx", "_models.py"), ("httpx", "_client.py")]


def held_out_files() -> list[Path]:
    paths = []
    for package, name in HELD_OUT:
        spec = importlib.util.find_spec(package)
        assert spec and spec.origin, f"{package} is not installed"
        paths.append(Path(spec.origin).parent / name)
    return paths


@dataclass(frozen=True)
class Request:
    path: Path
    prefix: str  # the file up to the keystroke (nothing after it is typed yet)
    mode: str
    line_prefix: str


def replay_requests(paths: list[Path], count: int, burst: int, seed: int = 0) -> list[Request]:
    """``count`` keystrokes over the files in typing order: bursts of ``burst`` consecutive
    characters typed from seeded random points, a completion asked after each keystroke
    (the server's debounce drops some in practice; the engine's work per answer is this)."""
    rng = np.random.default_rng(seed)
    bursts = max(1, count // (len(paths) * burst))
    requests = []
    for path in paths:
        text = path.read_text()
        # Past the first lines (a file is opened with some code in it), in typing order.
        starts = sorted(rng.integers(min(400, len(text) // 2), len(text) - burst, bursts))
        for start in starts:
            for cut in range(start, start + burst):
                prefix = text[:cut]
                language = LANGUAGE_OF_SUFFIX.get(path.suffix, "python")
                cursor = CursorContext.from_marked_text(prefix + "█", language, path=str(path))
                requests.append(Request(path, prefix, choose_mode(cursor, "auto"),
                                        cursor.line_prefix))
    return requests


class PassLog:
    """Wraps a stepper and logs each forward pass as (draft tokens, accepted of them)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.passes: list[list[int]] = []
        self.cpu_s: list[float] = []  # this thread's CPU time in each pass (threads=1: all)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def feed(self, token_ids):
        self.passes.append([0, 0])
        started = time.thread_time()
        logits = self.inner.feed(token_ids)
        self.cpu_s.append(time.thread_time() - started)
        return logits

    def feed_tail(self, token_ids, tail):
        self.passes.append([tail - 1, tail - 1])
        started = time.thread_time()
        logits = self.inner.feed_tail(token_ids, tail)
        self.cpu_s.append(time.thread_time() - started)
        return logits

    def truncate(self, length: int) -> None:
        if self.passes and length < self.inner.cached_tokens:  # a rejected draft's tail
            self.passes[-1][1] -= self.inner.cached_tokens - length
        self.inner.truncate(length)


@dataclass
class Arm:
    """One generator's side of the comparison and what it measured."""

    name: str
    generator: StepperGenerator
    log: PassLog
    tokens: int = 0
    passes: int = 0
    generate_s: float = 0.0  # wall, first pass included, prompt fitting and tokenizing not
    decode_s: float = 0.0  # wall, after the first pass
    decode_cpu_s: float = 0.0  # this thread's CPU time after the first token
    decode_tokens: int = 0  # tokens after the first pass's
    texts: list[str] = field(default_factory=list)
    patterns: list[list[list[int]]] = field(default_factory=list)
    token_counts: list[int] = field(default_factory=list)

    def run(self, request: Request, params: SamplingParams) -> None:
        self.log.passes, self.log.cpu_s = [], []
        rule = stop_rule_for(request.mode, request.line_prefix)
        watcher = StreamingStop(rule, watch=request.mode == "block")
        count = 0
        cpu_started = None
        generation = self.generator.generate(PromptParts(request.prefix), params,
                                             sequence_key=str(request.path))
        for token in generation:  # the server's stream: a fired stop rule ends it
            if cpu_started is None:
                cpu_started = time.thread_time()
            count += not token.text_only
            if watcher.feed(token.text):
                break
        generation.tokens.close()  # what the server does when the stop rule fires
        if cpu_started is not None:
            self.decode_cpu_s += time.thread_time() - cpu_started
        stats, passes = generation.stats, self.log.passes
        first_pass = passes[0][1] + 1 if passes else 0
        self.tokens += count
        self.passes += len(passes)
        self.generate_s += stats.time_to_first_token_s + stats.decode_s
        self.decode_s += stats.decode_s
        self.decode_tokens += max(0, count - first_pass)
        self.texts.append(watcher.text)
        self.patterns.append([list(p) for p in passes])
        self.token_counts.append(count)

    def skip(self) -> None:
        """A request the completion cache answered: nothing ran."""
        self.texts.append("")
        self.patterns.append([])
        self.token_counts.append(0)

    def summary(self) -> dict:
        per_token = 1e3 / max(1, self.tokens)
        per_decode_token = 1e3 / max(1, self.decode_tokens)
        return {
            "generated_tokens": self.tokens, "forward_passes": self.passes,
            "tokens_per_pass": self.tokens / max(1, self.passes),
            "ms_per_token": self.generate_s * per_token,
            "decode_tokens": self.decode_tokens,
            "decode_ms_per_token": self.decode_s * per_decode_token,
            "decode_cpu_ms_per_token": self.decode_cpu_s * per_decode_token,
        }


def default_model_replay(args, requests: list[Request]) -> tuple[dict, Arm]:
    spec = ModelSpec(source=args.model, backend="onnx", device="cpu", threads=args.threads,
                     quantization=args.quantization)
    arms = []
    lookup_config = LookupConfig(max_draft_tokens=args.draft, min_ngram=args.min_ngram,
                                 initial_draft_tokens=min(args.initial_draft, args.draft))
    for name, lookup in (("plain", None), ("speculative", lookup_config)):
        generator = load_generator(spec)
        generator.lookup = lookup
        log = PassLog(generator.stepper)
        generator.stepper = log
        arms.append(Arm(name, generator, log))
    params = SamplingParams(max_new_tokens=spec.max_new_tokens, token_healing=True)
    shown: dict[Path, tuple[str, str]] = {}  # the suggestion on screen per file
    cache_hits = 0
    for index, request in enumerate(requests):
        before, text = shown.get(request.path, ("\0", ""))
        typed = request.prefix[len(before):]
        if request.prefix.startswith(before) and text.startswith(typed) and typed != text:
            # The server's completion cache answers while the user types the suggestion.
            cache_hits += 1
            for arm in arms:
                arm.skip()
            continue
        line = replace(params, stop_at_newline=request.mode == "line")
        for arm in arms if index % 2 == 0 else arms[::-1]:
            arm.run(request, line)
        shown[request.path] = (request.prefix, arms[0].texts[-1])
    plain, speculative = arms
    differ = sum(a != b for a, b in zip(plain.texts, speculative.texts, strict=True))
    row = {"plain": plain.summary(), "speculative": speculative.summary(),
           "completions_differing": differ, "requests": len(requests) - cache_hits,
           "answered_from_cache": cache_hits}
    return row, speculative


class PatternDrafter:
    """Replays a recorded pass pattern: pass i drafts ``d_i`` tokens of which exactly the
    first ``a_i`` are right (taken from the model's own greedy tokens)."""

    def __init__(self, prompt_length: int, expected: list[int], pattern, vocab: int) -> None:
        self.expected, self.pattern, self.vocab = expected, pattern, vocab
        self.seen = -prompt_length
        self.calls = 0

    def extend(self, token_ids) -> None:
        self.seen += len(token_ids)

    def draft(self, limit: int) -> list[int]:
        drafted, accepted = self.pattern[self.calls] if self.calls < len(self.pattern) else (0, 0)
        self.calls += 1
        right = self.expected[self.seen : self.seen + min(drafted, limit)]
        return [t if i < accepted else (t + 1) % self.vocab for i, t in enumerate(right)]


def big_model_replay(args, requests: list[Request], speculative: Arm) -> dict:
    """The default model's passes replayed on the 350M shape, over whole typing bursts (so
    prefix reuse works as it does while typing); times count the decode phase only."""
    from bench.bench_engine import CODEGEN_350M, build_random_model
    from codegend.engine.prompt_fit import fit_prompt
    from codegend.engine.types import prompt_budget

    directory = build_random_model(args.workdir / "codegen-350m", CODEGEN_350M)
    spec = ModelSpec(source=str(directory), backend="onnx", device="cpu", threads=args.threads,
                     context_tokens=args.big_context, quantization=args.big_quantization)
    generators = {"plain": load_generator(spec), "speculative": load_generator(spec)}
    logs = {}
    for name, generator in generators.items():
        generator.tokenizer.eos_token_id = None  # random weights must not end a run early
        logs[name] = generator.stepper = PassLog(generator.stepper)
    generators["plain"].lookup = None
    totals = {name: {"generated_tokens": 0, "forward_passes": 0, "decode_tokens": 0,
                     "decode_s": 0.0, "decode_cpu_s": 0.0} for name in generators}
    mismatches = 0
    bursts = len(requests) // args.burst
    wanted = max(1, args.big_requests // args.burst)
    chosen = [b * args.burst + i for b in range(0, bursts, max(1, bursts // wanted))[:wanted]
              for i in range(args.burst)]
    for index in chosen:
        request, count = requests[index], speculative.token_counts[index]
        if count == 0:
            continue
        plain = generators["plain"]
        budget = prompt_budget(plain.context_tokens, count)
        ids = fit_prompt(PromptParts(request.prefix), plain.tokenizer, budget, None).ids
        params = SamplingParams(max_new_tokens=count)
        runs: dict[str, list[int]] = {}
        for name in ("plain", "speculative"):  # the plain tokens script the drafts
            log, stats = logs[name], GenerationStats()
            log.passes, log.cpu_s = [], []
            drafter = None
            if name == "speculative":
                drafter = PatternDrafter(len(ids), runs["plain"], speculative.patterns[index],
                                         log.vocab_size)
            runs[name] = generators[name].generate_ids(ids, params, stats=stats,
                                                       drafter=drafter)
            total = totals[name]
            total["generated_tokens"] += len(runs[name])
            total["forward_passes"] += stats.forward_passes
            total["decode_tokens"] += len(runs[name]) - (log.passes[0][1] + 1)
            total["decode_s"] += stats.decode_s
            total["decode_cpu_s"] += sum(log.cpu_s[1:])
        mismatches += runs["plain"] != runs["speculative"]
    row = {}
    for name, total in totals.items():
        per_decode_token = 1e3 / max(1, total["decode_tokens"])
        row[name] = {
            "generated_tokens": total["generated_tokens"],
            "forward_passes": total["forward_passes"],
            "tokens_per_pass": total["generated_tokens"] / max(1, total["forward_passes"]),
            "decode_tokens": total["decode_tokens"],
            "decode_ms_per_token": total["decode_s"] * per_decode_token,
            "decode_cpu_ms_per_token": total["decode_cpu_s"] * per_decode_token,
        }
    row["completions_differing"] = mismatches
    row["requests"] = len(chosen)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin:tiny-py")
    parser.add_argument("--requests", type=int, default=240)
    parser.add_argument("--burst", type=int, default=6, help="keystrokes typed in a row")
    parser.add_argument("--quantization", default=None,
                        help="the default model's recipe (default: the CPU default)")
    parser.add_argument("--big-requests", type=int, default=60)
    parser.add_argument("--big-context", type=int, default=1024)
    parser.add_argument("--big-quantization", default="dynamic-int8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--draft", type=int, default=LookupConfig().max_draft_tokens)
    parser.add_argument("--min-ngram", type=int, default=LookupConfig().min_ngram)
    parser.add_argument("--initial-draft", type=int,
                        default=LookupConfig().initial_draft_tokens)
    parser.add_argument("--no-big", action="store_true", help="the default model only")
    parser.add_argument("--out", default="bench/results/speculative.json")
    parser.add_argument("--workdir", type=Path, default=Path("bench/results/models"))
    args = parser.parse_args()
    requests = replay_requests(held_out_files(), args.requests, args.burst)
    rows = {}
    rows["default"], speculative = default_model_replay(args, requests)
    if not args.no_big:
        rows["codegen-350m-shape"] = big_model_replay(args, requests, speculative)
    report(rows, args, requests)
    return 0


def report(rows: dict, args, requests: list[Request]) -> None:
    print(f"\n{len(requests)} requests over {', '.join(f'{p}/{n}' for p, n in HELD_OUT)}; "
          f"{args.threads} threads, up to {args.draft} draft tokens")
    print(f"{'':20} {'arm':12} {'tokens':>7} {'passes':>7} {'tok/pass':>9} "
          f"{'decode ms/tok':>14} {'decode CPU ms/tok':>18}")
    ratios = {}
    for model, row in rows.items():
        for arm in ("plain", "speculative"):
            r = row[arm]
            print(f"{model:20} {arm:12} {r['generated_tokens']:7d} {r['forward_passes']:7d} "
                  f"{r['tokens_per_pass']:9.2f} {r['decode_ms_per_token']:14.2f} "
                  f"{r['decode_cpu_ms_per_token']:18.2f}")
        plain, spec = row["plain"], row["speculative"]
        ratios[model] = {
            "tokens_per_pass": spec["tokens_per_pass"],
            "decode_ms_per_token_ratio": spec["decode_ms_per_token"]
            / plain["decode_ms_per_token"],
            "decode_cpu_ms_per_token_ratio": spec["decode_cpu_ms_per_token"]
            / plain["decode_cpu_ms_per_token"],
            "completions_differing": row["completions_differing"],
        }
        if "ms_per_token" in plain:
            ratios[model]["generation_ms_per_token_ratio"] = (
                spec["ms_per_token"] / plain["ms_per_token"])
    for model, ratio in ratios.items():
        passes = ratio["tokens_per_pass"]
        verdict = ("ok" if passes >= 1.6 else "MISSED") if model == "default" \
            else "(the default model's acceptance, replayed)"
        wall, cpu = ratio["decode_ms_per_token_ratio"], ratio["decode_cpu_ms_per_token_ratio"]
        print(f"{model}: {passes:.2f} tokens/pass (target >= 1.6) {verdict}; decode time per "
              f"token {wall:.2f}x without, CPU time {cpu:.2f}x (target <= 0.7) "
              f"{'ok' if max(wall, cpu) <= 0.7 else 'MISSED'}; "
              f"{ratio['completions_differing']} of {rows[model]['requests']} completions "
              "differ")
        if "generation_ms_per_token_ratio" in ratio:
            print(f"  whole generation (first pass included): "
                  f"{ratio['generation_ms_per_token_ratio']:.2f}x")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"requests": len(requests), "threads": args.threads,
                               "max_draft_tokens": args.draft, "burst": args.burst,
                               "quantization": args.quantization,
                               "big_quantization": args.big_quantization, "rows": rows,
                               "ratios": ratios, "files": [f"{p}/{n}" for p, n in HELD_OUT],
                               "median_prefix_chars": statistics.median(
                                   len(r.prefix) for r in requests)}, indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
