"""What a graph costs to serve: resident memory, time to first token, per-token decode.

Each graph is measured in a fresh Python process, so its resident memory is its own and not
what earlier graphs left behind in ours: the child imports the runtime, notes its resident
set, opens the session, runs the prompt and the decode, and reports the growth. Prompts are
random token ids (speed does not depend on which tokens they are). Each figure is the best of
a few rounds: on a shared machine other processes only ever add time, so the best round is
the steadiest estimate of what the graph itself costs.

Run as a module it is that child: ``python -m codegend.engine.eval.serving_cost MODEL.onnx ...``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from codegend.engine.errors import CodegendError


@dataclass(frozen=True)
class ServingCost:
    prompt_tokens: int
    resident_mb: float  # resident-set growth from opening the session to the end of decode
    ttft_s: float  # time to the first token after a prompt of prompt_tokens (best round)
    decode_s_per_token: float  # one decode step after that prompt (best round's median)
    threads: int

    def as_dict(self) -> dict:
        return asdict(self)


def measure_serving_cost(model_path: Path, max_positions: int, *, prompt_tokens: int = 256,
                         decode_tokens: int = 32, repeats: int = 3,
                         threads: int | None = None, timeout_s: float = 900) -> ServingCost:
    """Measure ``model_path`` in a child process (see the module docstring)."""
    prompt_tokens = max(1, min(prompt_tokens, max_positions - decode_tokens))
    command = [sys.executable, "-m", "codegend.engine.eval.serving_cost", str(model_path),
               "--max-positions", str(max_positions), "--prompt-tokens", str(prompt_tokens),
               "--decode-tokens", str(decode_tokens), "--repeats", str(repeats)]
    if threads:
        command += ["--threads", str(threads)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise CodegendError(f"{model_path}: serving-cost measurement took over "
                            f"{timeout_s:.0f} s") from None
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise CodegendError(f"{model_path}: serving-cost measurement failed ({tail})")
    return ServingCost(**json.loads(done.stdout.strip().splitlines()[-1]))


def _resident_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _measure(args: argparse.Namespace) -> ServingCost:
    import numpy as np
    import onnxruntime  # noqa: F401  (imported before the baseline: it is not the graph's cost)
    import torch  # noqa: F401  (the stepper's tensors)

    from codegend.engine.onnx.stepper import OnnxStepper, create_session, physical_cores

    threads = args.threads or physical_cores()
    before = _resident_bytes()
    stepper = OnnxStepper(create_session(Path(args.model), "cpu", threads), args.max_positions)
    rng = np.random.default_rng(0)
    prompt = rng.integers(0, stepper.vocab_size, args.prompt_tokens).tolist()
    ttfts, steps = [], []
    for _ in range(args.repeats + 1):  # the first round warms the kernels and the allocator
        stepper.truncate(0)
        started = time.perf_counter()
        token = int(np.argmax(stepper.feed(prompt)))
        ttfts.append(time.perf_counter() - started)
        round_steps = []
        for _ in range(args.decode_tokens):
            started = time.perf_counter()
            token = int(np.argmax(stepper.feed([token])))
            round_steps.append(time.perf_counter() - started)
        steps.append(round_steps)
    resident = _resident_bytes() - before
    stepper.close()
    return ServingCost(
        prompt_tokens=args.prompt_tokens,
        resident_mb=round(resident / 1e6, 1),
        ttft_s=min(ttfts[1:]),
        decode_s_per_token=min(statistics.median(r) for r in steps[1:]),
        threads=threads,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="measure one ONNX graph's serving cost")
    parser.add_argument("model")
    parser.add_argument("--max-positions", type=int, required=True)
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--decode-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    print(json.dumps(_measure(args).as_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
