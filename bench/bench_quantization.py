"""Quantization benchmark: every recipe's quality on the default model, speed on a 350M shape.

Part 1 (quality): `codegend eval`'s measurements on the embedded default model (or, until it
exists, a random model of its shape) for a wide set of recipes, plus CTranslate2 INT8's
teacher-forced quality on the very same windows.

Part 2 (speed): a randomly initialised model with CodeGen-350M's exact shape. Each recipe
and CTranslate2 INT8 (compute type int8, the engine local completion servers used on CPU)
is timed in its own process with the same thread count; the machine's memory-read bandwidth
is measured in the same run, and each row's decode is compared with its floor: the bytes one
decode step must read (weights except the embedding tables, plus the KV cache) divided by
that bandwidth.

    python bench/bench_quantization.py [--threads 2] [--skip-speed] [--skip-quality]
        [--speed-recipes R1,R2] [--rounds N] [--skip-ct2]

``--rounds N`` times every recipe N times in turn (ABAB...) and keeps each one's median, so
a machine shared with other work slows every row alike (how static and dynamic INT8 were
compared for the default CPU recipe).

Prints both tables; writes bench/results/quantization.json and quantization.png. By hand,
not in CI (the 350M model takes minutes to build and export on two cores).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_engine import CODEGEN_350M, build_random_model, memory_read_bandwidth  # noqa: E402
from codegend.engine.build.pipeline import build_onnx_model  # noqa: E402
from codegend.engine.eval.evaluation import EvalSettings, evaluate_recipes  # noqa: E402
from codegend.engine.eval.report import format_table, write_plot  # noqa: E402
from codegend.engine.eval.serving_cost import measure_serving_cost  # noqa: E402
from codegend.engine.model_source import resolve_model_source  # noqa: E402
from codegend.engine.quant.recipes import parse_recipe  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DEFAULT_SHAPE = dict(n_layer=8, n_embd=256, n_head=8, rotary_dim=16, vocab_size=8192)
QUALITY_RECIPES = [
    "dynamic-int8", "static-int8", "static-int8:method=percentile",
    "static-int8:method=entropy", "int4-weight-only", "int4-weight-only:algorithm=hqq",
    "int4-weight-only:algorithm=kquant", "int4-weight-only:algorithm=gptq",
    "int4-weight-only:block_size=128",
]
SPEED_RECIPES = [
    "none", "dynamic-int8", "static-int8", "int4-weight-only",
    "int4-weight-only:accuracy_level=0", "int4-weight-only:block_size=128",
]


def default_model() -> tuple[str, str]:
    """builtin:tiny-py when it has been trained, else a random model of its shape."""
    from codegend.engine.errors import CodegendError

    try:
        resolve_model_source("builtin:tiny-py")
        return "builtin:tiny-py", "the embedded default model"
    except CodegendError:
        directory = build_random_model(RESULTS / "models" / "tiny-py-shaped", DEFAULT_SHAPE)
        return str(directory), "a RANDOM model of the default model's shape (not yet trained)"


def ctranslate2_dir(model_dir: Path) -> Path:
    import ctranslate2

    out = RESULTS / "models" / f"{model_dir.name}-ct2-int8"
    if not (out / "model.bin").is_file():
        converter = ctranslate2.converters.TransformersConverter(str(model_dir))
        converter.convert(str(out), quantization="int8", force=True)
    return out


def ctranslate2_quality(source: str, threads: int, settings: EvalSettings) -> dict:
    """CTranslate2 INT8 against our fp32 graph, teacher-forced on the windows eval uses."""
    import ctranslate2

    from codegend.engine.eval.evaluation import heldout_files
    from codegend.engine.quant.heldout import token_sequences
    from codegend.engine.quant.quality import compare_logits, onnx_logits
    from codegend.engine.tokenizer import load_tokenizer

    resolved = resolve_model_source(source)
    tokenizer = load_tokenizer(resolved.path, resolved.vocab_size)
    files, _ = heldout_files(resolved.path, None)
    window = min(settings.window_tokens, resolved.max_positions)
    sequences = token_sequences(files, tokenizer.encode, window, settings.windows)
    reference = onnx_logits(build_onnx_model(resolved, "none").artifact.model_path, sequences,
                            resolved.max_positions, threads)
    generator = ctranslate2.Generator(str(ctranslate2_dir(resolved.path)), device="cpu",
                                      compute_type="int8", intra_threads=threads)
    candidate = [np.asarray(generator.forward_batch([ids]))[0] for ids in sequences]
    return compare_logits(reference, candidate, sequences).as_dict()


def ctranslate2_cost(model_dir: Path, threads: int, prompt_tokens: int, decode_tokens: int,
                     repeats: int) -> dict:
    """Time CTranslate2 INT8 in a child process (this file with --ct2-child)."""
    command = [sys.executable, __file__, "--ct2-child", str(model_dir), "--threads",
               str(threads), "--prompt-tokens", str(prompt_tokens), "--decode-tokens",
               str(decode_tokens), "--repeats", str(repeats)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def ctranslate2_child(args: argparse.Namespace) -> None:
    import ctranslate2
    import psutil

    vocabulary = json.loads((args.ct2_child / "vocabulary.json").read_text())
    rng = np.random.default_rng(0)
    prompt = [vocabulary[i] for i in rng.integers(1, len(vocabulary), args.prompt_tokens)]
    before = psutil.Process().memory_info().rss
    generator = ctranslate2.Generator(str(args.ct2_child), device="cpu", compute_type="int8",
                                      intra_threads=args.threads, inter_threads=1)
    firsts, totals = [], []
    for _ in range(args.repeats + 1):  # the first round warms up
        for length, times in ((1, firsts), (1 + args.decode_tokens, totals)):
            started = time.perf_counter()
            generator.generate_batch([prompt], max_length=length, min_length=length,
                                     sampling_topk=1, include_prompt_in_result=False)
            times.append(time.perf_counter() - started)
    ttft, total = min(firsts[1:]), min(totals[1:])  # best rounds, as serving_cost.py does
    print(json.dumps({"ttft_s": ttft, "decode_s_per_token": (total - ttft) / args.decode_tokens,
                      "resident_mb": (psutil.Process().memory_info().rss - before) / 1e6,
                      "size_bytes": (args.ct2_child / "model.bin").stat().st_size}))


def decode_bytes(model_path: Path, shape: dict, positions: int) -> int:
    """Bytes one decode step must read: every constant except embedding-style lookup tables
    (a Gather reads one row of them), plus the fp32 KV cache of ``positions`` tokens."""
    import onnx

    graph = onnx.load(str(model_path)).graph
    lookups = {n.input[0] for n in graph.node if n.op_type in ("Gather", "GatherBlockQuantized")}
    # A table dequantized before its Gather (static INT8's QDQ embedding) is folded into a
    # float constant when the session starts; decode still reads only one row of it.
    lookups |= {n.input[0] for n in graph.node
                if n.op_type == "DequantizeLinear" and n.output[0] in lookups}
    weights = sum(len(t.raw_data) or onnx.numpy_helper.to_array(t).nbytes
                  for t in graph.initializer if t.name not in lookups)
    kv_cache = shape["n_layer"] * 2 * positions * shape["n_embd"] * 4
    return weights + kv_cache


def speed_table(threads: int, repeats: int, recipes: list[str] = SPEED_RECIPES,
                rounds: int = 1, ct2: bool = True) -> dict:
    model_dir = build_random_model(RESULTS / "models" / "codegen-350m", CODEGEN_350M)
    resolved = resolve_model_source(str(model_dir))
    prompt, decode = 256, 32
    positions = prompt + decode // 2  # the KV cache a typical decode step reads
    # The floor uses the best bandwidth seen over the whole run (measured between rows):
    # other processes on a shared machine only ever make a measurement lower.
    bandwidths = [memory_read_bandwidth(threads)]
    artifacts = {}
    for spec in recipes:
        name, options = parse_recipe(spec)
        started = time.monotonic()
        artifacts[spec] = build_onnx_model(resolved, name, options=options).artifact
        print(f"  {spec}: artifact ready in {time.monotonic() - started:.0f} s", flush=True)
    measured: dict[str, list[dict]] = {spec: [] for spec in recipes}
    for _ in range(rounds):  # in turn, so load from elsewhere falls on every recipe alike
        for spec in recipes:
            cost = measure_serving_cost(artifacts[spec].model_path, resolved.max_positions,
                                        prompt_tokens=prompt, decode_tokens=decode,
                                        repeats=repeats, threads=threads)
            measured[spec].append(cost.as_dict())
            bandwidths.append(memory_read_bandwidth(threads))
    rows = [{"recipe": spec, "size_bytes": artifacts[spec].manifest["size_bytes"],
             **_median_cost(measured[spec]), "rounds": measured[spec],
             "decode_read_bytes": decode_bytes(artifacts[spec].model_path, CODEGEN_350M,
                                               positions)} for spec in recipes]
    if ct2:
        ct2_cost = ctranslate2_cost(ctranslate2_dir(model_dir), threads, prompt, decode,
                                    repeats)
        embedding = CODEGEN_350M["vocab_size"] * CODEGEN_350M["n_embd"]  # int8: a byte each
        kv_cache = CODEGEN_350M["n_layer"] * 2 * positions * CODEGEN_350M["n_embd"] * 4
        rows.append({"recipe": "CTranslate2 int8", "threads": threads, "prompt_tokens": prompt,
                     **ct2_cost, "decode_read_bytes": ct2_cost["size_bytes"] - embedding
                     + kv_cache})
        bandwidths.append(memory_read_bandwidth(threads))
    for row in rows:
        row["floor_s_per_token"] = row["decode_read_bytes"] / max(bandwidths)
    return {"model": "random CodeGen-350M shape", "threads": threads, "repeats": repeats,
            "bandwidth_bytes_per_s": bandwidths, "rows": rows}


def _median_cost(rounds: list[dict]) -> dict:
    """Each figure's median over the rounds (one round: that round's figures)."""
    return {key: float(np.median([r[key] for r in rounds])) if isinstance(rounds[0][key], float)
            else rounds[0][key] for key in rounds[0]}


def print_speed(speed: dict) -> None:
    fp32 = speed["rows"][0]["decode_s_per_token"]
    print(f"\n{'recipe':36} {'size MB':>8} {'RSS MB':>7} {'TTFT ms':>8} {'ms/tok':>7} "
          f"{'vs 1st':>7} {'floor ms':>8} {'vs floor':>8}")
    for row in speed["rows"]:
        print(f"{row['recipe']:36} {row['size_bytes'] / 1e6:8.0f} {row['resident_mb']:7.0f} "
              f"{row['ttft_s'] * 1e3:8.0f} {row['decode_s_per_token'] * 1e3:7.1f} "
              f"{fp32 / row['decode_s_per_token']:6.2f}x "
              f"{row['floor_s_per_token'] * 1e3:8.1f} "
              f"{row['decode_s_per_token'] / row['floor_s_per_token']:7.2f}x")
    seen = speed["bandwidth_bytes_per_s"]
    print(f"memory read bandwidth {max(seen) / 1e9:.1f} GB/s (best of {len(seen)} measurements "
          f"between rows; worst {min(seen) / 1e9:.1f}); floor = bytes a decode step reads / "
          f"best bandwidth; {speed['threads']} threads; prompt 256 tokens, decode median of "
          f"32 steps")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--speed-recipes", default=",".join(SPEED_RECIPES),
                        help="the recipes the speed part times (the first is the baseline)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="time every recipe this many times in turn; medians reported")
    parser.add_argument("--skip-ct2", action="store_true", help="leave CTranslate2 out")
    parser.add_argument("--ct2-child", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--prompt-tokens", type=int, default=256, help=argparse.SUPPRESS)
    parser.add_argument("--decode-tokens", type=int, default=32, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ct2_child:
        ctranslate2_child(args)
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    if not args.skip_quality:
        source, what = default_model()
        print(f"quality: {what} ({source})", flush=True)
        settings = EvalSettings(threads=args.threads, repeats=args.repeats)
        report = evaluate_recipes(source, [parse_recipe(s) for s in QUALITY_RECIPES], None,
                                  settings)
        ct2 = ctranslate2_quality(source, args.threads, settings)
        print(format_table(report))
        print(f"CTranslate2 int8 (teacher-forced, same windows): top-1 "
              f"{ct2['top1_agreement']:.3f}, perplexity ratio {ct2['perplexity_ratio']:.4f}, "
              f"KL {ct2['kl_divergence']:.2e}")
        write_plot(report, RESULTS / "quantization.png")
        results["quality"] = {"model": what, **report.as_dict(), "ctranslate2_int8": ct2}
    if not args.skip_speed:
        print("speed: random CodeGen-350M-shaped model", flush=True)
        results["speed"] = speed_table(args.threads, args.repeats,
                                       args.speed_recipes.split(","), args.rounds,
                                       not args.skip_ct2)
        print_speed(results["speed"])
    (RESULTS / "quantization.json").write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
