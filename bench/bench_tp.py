"""Tensor-parallel backend benchmark: per-token decode and time to first token by world size.

Side by side in one run, on a randomly initialised model with a real CodeGen shape:
- transformers' CodeGenForCausalLM (the ``--backend torch`` reference), in this process;
- the compact torch CodeGen in this process (no group: what one rank computes);
- the tensor-parallel group at each requested world size (gloo on CPU, NCCL on CUDA);
plus the memory-read bandwidth and the gloo/NCCL all-reduce latency for one layer's
activation, which are the two terms of the latency model in bench/TP_MODEL.md.

    nice python bench/bench_tp.py [--shape 350m|2b|small] [--world-sizes 1,2]
                                  [--prompt 64] [--new 8] [--threads 1]
                                  [--device cpu|cuda] [--dtype ...]

Prints a table and writes bench/results/tp.json. Run by hand, not in CI.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_engine import build_random_model, memory_read_bandwidth  # noqa: E402
from codegend.engine.torch.codegen import load_codegen  # noqa: E402
from codegend.engine.torch.tp_stepper import open_tp_stepper  # noqa: E402

SHAPES = {
    "350m": dict(n_layer=20, n_embd=1024, n_head=16, rotary_dim=32, vocab_size=51200),
    "2b": dict(n_layer=32, n_embd=2560, n_head=32, rotary_dim=64, vocab_size=51200),
    "small": dict(n_layer=4, n_embd=256, n_head=8, rotary_dim=16, vocab_size=8192),
}


def time_stepper(feed, prompt: list[int], new: int) -> dict:
    """Time to first token (prefill of the prompt) and per-token decode (median)."""
    started = time.perf_counter()
    logits = feed(prompt)
    ttft = time.perf_counter() - started
    per_token = []
    for _ in range(new):
        token = int(logits.argmax())
        started = time.perf_counter()
        logits = feed([token])
        per_token.append(time.perf_counter() - started)
    return {"ttft_s": ttft, "decode_s_per_token": statistics.median(per_token[1:] or per_token)}


def hf_feed(model, device: str):
    state = {"cache": None}

    def feed(ids: list[int]):
        with torch.inference_mode():
            out = model(torch.tensor([ids], device=device), past_key_values=state["cache"],
                        use_cache=True)
        state["cache"] = out.past_key_values
        return out.logits[0, -1].float().cpu().numpy()

    return feed


def compact_feed(model, device: str):
    state = {"length": 0}

    def feed(ids: list[int]):
        with torch.inference_mode():
            logits = model(torch.tensor([ids], device=device), state["length"])
        state["length"] += len(ids)
        return logits.cpu().numpy()

    return feed


def _allreduce_rank(rank: int, world_size: int, port: int, numel: int, device: str, out) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    backend = "nccl" if device == "cuda" else "gloo"
    if device == "cuda":
        torch.cuda.set_device(rank)
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world_size, timeout=timedelta(seconds=60))
    tensor = torch.ones(numel, device=device, dtype=torch.float16 if device == "cuda" else None)
    for _ in range(20):
        dist.all_reduce(tensor)
    if device == "cuda":
        torch.cuda.synchronize()
    times = []
    for _ in range(200):
        started = time.perf_counter()
        dist.all_reduce(tensor)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    if rank == 0:
        out.put(statistics.median(times))
    dist.destroy_process_group()


def allreduce_latency(world_size: int, numel: int, device: str) -> float:
    """Median seconds of one all-reduce of ``numel`` activations (one layer, one token)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    procs = [context.Process(target=_allreduce_rank, args=(r, world_size, port, numel, device,
                                                           out)) for r in range(world_size)]
    for proc in procs:
        proc.start()
    result = out.get(timeout=300)
    for proc in procs:
        proc.join()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=SHAPES, default="350m")
    parser.add_argument("--world-sizes", default="1,2")
    parser.add_argument("--prompt", type=int, default=64)
    parser.add_argument("--new", type=int, default=8)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--dtype", default=None, help="float32 | float16 | bfloat16")
    parser.add_argument("--workdir", type=Path, default=Path("bench/results/tp-models"))
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads per rank and in process (1: one core per rank)")
    parser.add_argument("--skip-hf", action="store_true", help="no transformers baseline")
    args = parser.parse_args()
    dtype = args.dtype or ("float16" if args.device == "cuda" else "float32")
    shape = SHAPES[args.shape]
    model_dir = build_random_model(args.workdir / args.shape, shape)
    prompt = [(i * 7919) % shape["vocab_size"] for i in range(args.prompt)]
    threads = args.threads
    torch.set_num_threads(threads)
    results: dict = {"shape": args.shape, **shape, "device": args.device, "dtype": dtype,
                     "prompt_tokens": args.prompt, "new_tokens": args.new,
                     "cpu_threads": threads, "load_average": os.getloadavg()[0], "rows": []}
    if args.device == "cpu":
        results["memory_read_GBps"] = memory_read_bandwidth(threads, gigabytes=0.5) / 1e9
    torch_dtype = getattr(torch, dtype)

    if not args.skip_hf:
        from transformers import CodeGenForCausalLM

        hf = CodeGenForCausalLM.from_pretrained(str(model_dir), dtype=torch_dtype)
        hf = hf.to(args.device).eval()
        results["rows"].append({"backend": "transformers (--backend torch)",
                                **time_stepper(hf_feed(hf, args.device), prompt, args.new)})
        del hf
    compact = load_codegen(model_dir, args.device, torch_dtype)
    compact.setup_caches(args.prompt + args.new + 1)
    results["rows"].append({"backend": "compact CodeGen, in process",
                            **time_stepper(compact_feed(compact, args.device), prompt, args.new)})
    weight_bytes = sum(p.numel() * p.element_size() for p in compact.parameters())
    results["weight_bytes"] = weight_bytes
    del compact

    for world_size in (int(n) for n in args.world_sizes.split(",")):
        started = time.perf_counter()
        stepper = open_tp_stepper(model_dir, world_size, args.device, dtype,
                                  max_positions=args.prompt + args.new + 1,
                                  threads_per_rank=threads)
        start_s = time.perf_counter() - started
        try:
            row = time_stepper(stepper.feed, prompt, args.new)
        finally:
            stepper.close()
        if world_size > 1:
            row["allreduce_s"] = allreduce_latency(world_size, shape["n_embd"], args.device)
        results["rows"].append({"backend": f"torch-tp world_size {world_size}",
                                "start_s": start_s, **row})

    print(f"{args.shape} {shape}  {args.device} {dtype}  prompt {args.prompt}, new {args.new}, "
          f"{threads} thread(s) per rank, load {results['load_average']:.1f}, weights "
          f"{weight_bytes / 1e9:.2f} GB"
          + (f", memory read {results['memory_read_GBps']:.1f} GB/s"
             if "memory_read_GBps" in results else ""))
    for row in results["rows"]:
        extra = "".join(f"  {k} {row[k] * 1e3:.2f} ms" for k in ("start_s", "allreduce_s")
                        if k in row)
        print(f"  {row['backend']:<34} ttft {row['ttft_s'] * 1e3:8.1f} ms   decode "
              f"{row['decode_s_per_token'] * 1e3:7.1f} ms/token{extra}")
    out = Path("bench/results/tp.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
