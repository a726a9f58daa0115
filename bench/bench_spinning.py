"""Two models in one daemon: ONNX Runtime's idle spinning against stopping it after each run.

An ONNX Runtime session owns a pool of intra-op threads whose workers, by default, keep
spinning for a while after a run ends, waiting for the next one. The daemon serves one
session per model (tiny-py and tiny-web in the default configuration). When requests
alternate between the models (a Python and a TypeScript file open, or a team sharing a
daemon), the model that runs next competes with the other's spinning worker for the cores;
on a 2-core machine that is half of them. ``engine/onnx/stepper.create_session`` sets
``session.force_spinning_stop``: workers spin while a run needs them and stop when it ends.

The workload: keystrokes typed in bursts through held-out files (click's ``termui.py`` for
tiny-py, markdown-it's ``renderer.mjs`` for tiny-web), a completion after each, the mode by
the language server's rule, one KV sequence per file. Two workloads: one model alone (what
a single-language user has: spinning should cost nothing there) and requests alternating
between the two models. Each round runs every arm in its own process, in alternating order,
so load from elsewhere hits the arms alike; the arm "spinning" is the product with that one
session option taken away.

    python bench/bench_spinning.py [--rounds 3] [--requests 120]

Prints a table and writes bench/results/spinning.json. Run by hand, not in CI.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ARMS = ("stop after run", "spinning")
WORKLOADS = {"tiny-py alone": ("tiny-py",), "alternating": ("tiny-py", "tiny-web")}
FILES = {"tiny-py": ("click", "termui.py"), "tiny-web": ("markdown-it", "renderer.mjs")}


def held_out_file(model: str) -> Path:
    from bench.replay.held_out import package_files

    package, name = FILES[model]
    return next(p for p in package_files(package) if p.name == name)


def measure(arm: str, models: tuple[str, ...], requests: int, burst: int) -> dict:
    """One arm's run, in this process: decode time per token and time to the first token."""
    import onnxruntime as ort

    if arm == "spinning":  # the product, less the one option this bench is about
        add_entry = ort.SessionOptions.add_session_config_entry

        def without_stop(options, key, value):
            if key != "session.force_spinning_stop":
                add_entry(options, key, value)

        ort.SessionOptions.add_session_config_entry = without_stop
    from bench.bench_speculative import replay_requests
    from codegend.engine.loader import load_generator
    from codegend.engine.model_spec import ModelSpec
    from codegend.engine.types import PromptParts, SamplingParams

    generators = {m: load_generator(ModelSpec(source=f"builtin:{m}", backend="onnx",
                                              device="cpu")) for m in models}
    streams = [(m, replay_requests([held_out_file(m)], requests // len(models), burst))
               for m in models]
    decode_s = 0.0
    decode_tokens = 0
    first_token_s = []
    for turn in zip(*(requests for _, requests in streams), strict=False):
        for (model, _), request in zip(streams, turn, strict=True):
            params = SamplingParams(max_new_tokens=24, stop_at_newline=request.mode == "line")
            generation = generators[model].generate(PromptParts(request.prefix), params,
                                                    sequence_key=str(request.path))
            tokens = sum(1 for _ in generation)
            decode_s += generation.stats.decode_s
            decode_tokens += max(0, tokens - 1)
            first_token_s.append(generation.stats.time_to_first_token_s)
    return {"decode_ms_per_token": 1e3 * decode_s / max(1, decode_tokens),
            "first_token_ms_median": 1e3 * statistics.median(first_token_s),
            "requests": len(first_token_s)}


def run_arm(arm: str, workload: str, args) -> dict:
    command = [sys.executable, __file__, "--child", arm, "--workload", workload,
               "--requests", str(args.requests), "--burst", str(args.burst)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=120)
    parser.add_argument("--burst", type=int, default=6, help="keystrokes typed in a row")
    parser.add_argument("--out", default="bench/results/spinning.json")
    parser.add_argument("--child", choices=ARMS, help=argparse.SUPPRESS)
    parser.add_argument("--workload", choices=WORKLOADS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, WORKLOADS[args.workload], args.requests,
                                 args.burst)))
        return 0
    runs: dict[str, dict[str, list[dict]]] = {w: {a: [] for a in ARMS} for w in WORKLOADS}
    for round_index in range(args.rounds):
        for workload in WORKLOADS:
            for arm in ARMS if round_index % 2 == 0 else ARMS[::-1]:
                runs[workload][arm].append(run_arm(arm, workload, args))
    rows = {}
    print(f"{args.rounds} rounds, {args.requests} requests per run; medians over rounds")
    print(f"{'workload':16} {'arm':16} {'decode ms/token':>16} {'first token ms':>15}")
    for workload, arms in runs.items():
        rows[workload] = {}
        for arm, results in arms.items():
            row = {key: statistics.median(r[key] for r in results)
                   for key in ("decode_ms_per_token", "first_token_ms_median")}
            rows[workload][arm] = row
            print(f"{workload:16} {arm:16} {row['decode_ms_per_token']:16.3f} "
                  f"{row['first_token_ms_median']:15.2f}")
        stop, spin = rows[workload]["stop after run"], rows[workload]["spinning"]
        decode = spin["decode_ms_per_token"] / stop["decode_ms_per_token"]
        first = spin["first_token_ms_median"] / stop["first_token_ms_median"]
        print(f"{workload}: spinning takes {decode:.2f}x the decode time per token and "
              f"{first:.2f}x the time to the first token")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rounds": args.rounds, "requests": args.requests,
                               "rows": rows, "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
