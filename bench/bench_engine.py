"""Engine benchmark: torch eager vs ONNX Runtime (fp32, optimized, INT8) vs optimum's generate.

Everything runs side by side in one process on a randomly initialised model with exactly
CodeGen-350M's shape, with the same thread count, plus the machine's memory-read bandwidth
measured in the same run and the per-token floor it implies (weight bytes / bandwidth).

    python bench/bench_engine.py [--threads N] [--prompt 256] [--new 32] [--small]

Prints a table and writes bench/results/engine.json. Run by hand, not in CI.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codegend.engine.build.pipeline import build_onnx_model  # noqa: E402
from codegend.engine.generate import StepperGenerator  # noqa: E402
from codegend.engine.model_source import resolve_model_source  # noqa: E402
from codegend.engine.onnx.stepper import OnnxStepper, create_session  # noqa: E402
from codegend.engine.tokenizer import load_tokenizer  # noqa: E402
from codegend.engine.types import SamplingParams  # noqa: E402
from tests.tiny_models import build_tiny_tokenizer  # noqa: E402

CODEGEN_350M = dict(n_layer=20, n_embd=1024, n_head=16, rotary_dim=32, vocab_size=51200)
SMALL = dict(n_layer=4, n_embd=256, n_head=8, rotary_dim=16, vocab_size=8192)


def build_random_model(directory: Path, shape: dict) -> Path:
    from transformers import CodeGenConfig, CodeGenForCausalLM

    if (directory / "config.json").is_file():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer(directory)
    config = CodeGenConfig(n_positions=2048, n_ctx=2048, bos_token_id=tokenizer.bos_token_id,
                           eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False,
                           **shape)
    torch.manual_seed(0)
    CodeGenForCausalLM(config).eval().save_pretrained(str(directory))
    return directory


def memory_read_bandwidth(threads: int, gigabytes: float = 1.0, repeats: int = 5) -> float:
    """Bytes per second that summing a large array reads, best of several runs."""
    torch.set_num_threads(threads)
    data = torch.ones(int(gigabytes * 2**30 / 4), dtype=torch.float32)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        data.sum()
        best = min(best, time.perf_counter() - start)
    return data.numel() * 4 / best


def time_loop_once(generator: StepperGenerator, prompt: list[int], new: int) -> dict:
    """One round of our loop: cold TTFT, whole generation, and TTFT with the prompt cached."""
    params = SamplingParams(max_new_tokens=new)
    first = SamplingParams(max_new_tokens=1)
    generator.stepper.truncate(0)
    generator._cached_ids = []
    start = time.perf_counter()
    generator.generate_ids(prompt, first)
    ttft = time.perf_counter() - start
    generator.stepper.truncate(0)
    generator._cached_ids = []
    start = time.perf_counter()
    out = generator.generate_ids(prompt, params)
    total = time.perf_counter() - start
    assert len(out) == new, "a token budget run ended early"
    # The same prompt plus one token: only the new token should be computed.
    generator.generate_ids(prompt, first)
    start = time.perf_counter()
    generator.generate_ids(prompt + [5], first)
    reuse = time.perf_counter() - start
    return {"ttft_ms": ttft * 1e3, "per_token_ms": (total - ttft) / (new - 1) * 1e3,
            "prefix_reuse_ttft_ms": reuse * 1e3}


def time_hf_generate_once(model, prompt: list[int], new: int) -> dict:
    """One round of a Hugging Face style ``generate`` (transformers or optimum)."""
    ids = torch.tensor([prompt])
    kwargs = dict(do_sample=False, pad_token_id=0, eos_token_id=None)
    with torch.inference_mode():
        start = time.perf_counter()
        model.generate(ids, max_new_tokens=1, min_new_tokens=1, **kwargs)
        ttft = time.perf_counter() - start
        start = time.perf_counter()
        model.generate(ids, max_new_tokens=new, min_new_tokens=new, **kwargs)
        total = time.perf_counter() - start
    return {"ttft_ms": ttft * 1e3, "per_token_ms": (total - ttft) / (new - 1) * 1e3}


def interleaved(contestants: dict, repeats: int) -> dict[str, dict]:
    """Round-robin rounds, median per contestant: load that comes and goes on a shared
    machine then hits every contestant alike instead of whichever ran at that moment."""
    rounds: dict[str, list[dict]] = {name: [] for name in contestants}
    for _ in range(repeats):
        for name, run_once in contestants.items():
            rounds[name].append(run_once())
    return {name: {key: statistics.median(r[key] for r in results) for key in results[0]}
            for name, results in rounds.items()}


def optimum_model(artifact_dir: Path, source_dir: Path, threads: int):
    """optimum's ORTModelForCausalLM over the very same INT8 graph file."""
    import onnxruntime as ort
    from optimum.onnxruntime import ORTModelForCausalLM

    staging = Path(tempfile.mkdtemp(prefix="optimum-int8-"))
    (staging / "model.onnx").symlink_to(artifact_dir / "model.onnx")
    for name in ("config.json", "generation_config.json"):
        if (source_dir / name).is_file():
            (staging / name).write_bytes((source_dir / name).read_bytes())
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ORTModelForCausalLM.from_pretrained(staging, file_name="model.onnx",
                                               session_options=options, use_cache=True,
                                               provider="CPUExecutionProvider")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt", type=int, default=256)
    parser.add_argument("--new", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--small", action="store_true", help="a small model, for a quick look")
    parser.add_argument("--workdir", type=Path, default=Path("bench/results/models"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shape = SMALL if args.small else CODEGEN_350M
    model_dir = build_random_model(args.workdir / ("small" if args.small else "codegen-350m"),
                                   shape)
    resolved = resolve_model_source(str(model_dir))
    tokenizer = load_tokenizer(resolved.path, resolved.vocab_size)
    tokenizer.eos_token_id = None  # a random model must not end a timed run early
    prompt = np.random.default_rng(0).integers(1, shape["vocab_size"], args.prompt).tolist()

    from codegend.engine.torch.reference_stepper import load_torch_model

    hf = load_torch_model(resolved)
    contestants = {"torch eager fp32 (HF generate)":
                   lambda: time_hf_generate_once(hf, prompt, args.new)}
    artifacts = {}
    for label, quantization in (("ORT fp32 (our loop)", None), ("ORT optimized", "none"),
                                ("ORT INT8", "dynamic-int8")):
        if quantization is None:
            artifact = build_onnx_model(resolved, "none").stage("fp32")
        else:
            artifact = build_onnx_model(resolved, quantization).artifact
        artifacts[label] = artifact
        session = create_session(artifact.model_path, "cpu", args.threads)
        generator = StepperGenerator(label, OnnxStepper(session, resolved.max_positions),
                                     tokenizer, resolved.max_positions)
        contestants[label] = lambda g=generator: time_loop_once(g, prompt, args.new)
    int8 = artifacts["ORT INT8"]
    optimum = optimum_model(int8.directory, resolved.path, args.threads)
    contestants["optimum ORTModelForCausalLM.generate INT8"] = (
        lambda: time_hf_generate_once(optimum, prompt, args.new))
    rows = interleaved(contestants, args.repeats)

    bandwidth = memory_read_bandwidth(args.threads)
    int8_bytes = int8.manifest["size_bytes"]
    floor_ms = int8_bytes / bandwidth * 1e3
    report(rows, bandwidth, int8_bytes, floor_ms, args)
    return 0


def report(rows: dict, bandwidth: float, int8_bytes: int, floor_ms: float, args) -> None:
    torch_row = rows["torch eager fp32 (HF generate)"]
    optimum_row = rows["optimum ORTModelForCausalLM.generate INT8"]
    ours = rows["ORT INT8"]
    print(f"\n{'':45} {'TTFT ms':>9} {'ms/token':>9} {'reuse TTFT ms':>14}")
    for name, row in rows.items():
        reuse = row.get("prefix_reuse_ttft_ms")
        print(f"{name:45} {row['ttft_ms']:9.1f} {row['per_token_ms']:9.2f} "
              f"{'' if reuse is None else f'{reuse:14.2f}'}")
    ratios = {
        "int8_decode_vs_torch_eager": ours["per_token_ms"] / torch_row["per_token_ms"],
        "int8_decode_vs_optimum_generate": ours["per_token_ms"] / optimum_row["per_token_ms"],
        "int8_decode_vs_bandwidth_floor": ours["per_token_ms"] / floor_ms,
        "prefix_reuse_ttft_vs_cold": ours["prefix_reuse_ttft_ms"] / ours["ttft_ms"],
    }
    targets = {"int8_decode_vs_torch_eager": 0.35, "int8_decode_vs_optimum_generate": 1.0,
               "int8_decode_vs_bandwidth_floor": 1.5, "prefix_reuse_ttft_vs_cold": 0.2}
    print(f"\nmemory read bandwidth {bandwidth / 1e9:.1f} GB/s; INT8 weights "
          f"{int8_bytes / 1e6:.0f} MB; per-token floor {floor_ms:.2f} ms")
    for key, value in ratios.items():
        verdict = "ok" if value <= targets[key] else "MISSED"
        print(f"{key:34} {value:6.3f}  (target <= {targets[key]})  {verdict}")
    out = Path("bench/results/engine.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"threads": args.threads, "prompt_tokens": args.prompt,
                               "new_tokens": args.new, "rows": rows, "ratios": ratios,
                               "bandwidth_bytes_per_s": bandwidth, "int8_bytes": int8_bytes,
                               "floor_ms": floor_ms}, indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
