"""The built-in models' decode speed against CodeGen-350M's shape, side by side in one run.

The models issue bounds the default model's size by what a laptop feels: its INT8 decode on
2 CPU cores must take at most 0.3x the time of the CodeGen-350M shape's. Both run through
our own loop (StepperGenerator on ONNX Runtime) with the same recipe (dynamic INT8, which
needs no calibration data, so a randomly initialised 350M model gets exactly what the
built-in one gets), the same threads, prompt and token budget, in interleaved rounds; the
built-in models are also timed with the recipe they are served with (static INT8).

    python bench/bench_default_size.py [--threads 2] [--prompt 256] [--new 32] [--repeats 5]

Prints a table and writes bench/results/default_size.json. Run by hand, not in CI.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import CODEGEN_350M, build_random_model, interleaved, time_loop_once  # noqa: E402

from codegend.engine.build.pipeline import build_onnx_model  # noqa: E402
from codegend.engine.generate import StepperGenerator  # noqa: E402
from codegend.engine.model_source import resolve_model_source  # noqa: E402
from codegend.engine.onnx.stepper import OnnxStepper, create_session  # noqa: E402
from codegend.engine.tokenizer import load_tokenizer  # noqa: E402

TARGET_RATIO = 0.3  # built-in decode time / CodeGen-350M shape decode time, INT8, 2 cores


def timed_generator(source: str, recipe: str, threads: int, prompt_length: int, new: int):
    """A callable timing one round of ``source`` built with ``recipe``, and its INT8 size."""
    resolved = resolve_model_source(source)
    artifact = build_onnx_model(resolved, recipe).artifact  # static: the model's calibration
    tokenizer = load_tokenizer(resolved.path, resolved.vocab_size)
    tokenizer.eos_token_id = None  # a timed run must not end early
    session = create_session(artifact.model_path, "cpu", threads)
    generator = StepperGenerator(source, OnnxStepper(session, resolved.max_positions),
                                 tokenizer, resolved.max_positions)
    length = min(prompt_length, resolved.max_positions - new - 1)
    prompt = np.random.default_rng(0).integers(1, resolved.vocab_size, length).tolist()
    return (lambda: time_loop_once(generator, prompt, new)), artifact.manifest["size_bytes"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt", type=int, default=256)
    parser.add_argument("--new", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=["builtin:tiny-py", "builtin:tiny-web"])
    parser.add_argument("--workdir", type=Path, default=Path("bench/results/models"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/default_size.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    big = str(build_random_model(args.workdir / "codegen-350m", CODEGEN_350M))
    entries = [("CodeGen-350M shape", big, "dynamic-int8")]
    for source in args.models:
        entries += [(source, source, "dynamic-int8"), (source, source, "static-int8")]
    contestants, sizes = {}, {}
    for label, source, recipe in entries:
        name = f"{label} {recipe}"
        contestants[name], sizes[name] = timed_generator(source, recipe, args.threads,
                                                         args.prompt, args.new)
    rows = interleaved(contestants, args.repeats)
    reference = rows["CodeGen-350M shape dynamic-int8"]["per_token_ms"]
    print(f"\n{'':44} {'INT8 MB':>8} {'TTFT ms':>8} {'ms/token':>9} {'vs 350M':>8}")
    for name, row in rows.items():
        row["int8_megabytes"] = sizes[name] / 1e6
        row["decode_vs_350m"] = row["per_token_ms"] / reference
        print(f"{name:44} {row['int8_megabytes']:8.1f} {row['ttft_ms']:8.1f} "
              f"{row['per_token_ms']:9.2f} {row['decode_vs_350m']:8.3f}")
    for source in args.models:
        ratio = rows[f"{source} dynamic-int8"]["decode_vs_350m"]
        verdict = "ok" if ratio <= TARGET_RATIO else "MISSED"
        print(f"{source}: decode {ratio:.3f}x the 350M shape's (target <= {TARGET_RATIO}) "
              f"{verdict}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"threads": args.threads, "prompt": args.prompt,
                                    "new": args.new, "repeats": args.repeats, "rows": rows},
                                   indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
