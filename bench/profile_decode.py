"""Where one decode step of an ONNX artifact spends its time, by operator type.

Runs ONNX Runtime's profiler over a prefill and N decode steps of a model's artifact and
sums kernel time per operator type. Profiling adds a fixed cost to every node, so small ops
look larger than they are: read the table as proportions.

    python bench/profile_decode.py [--model DIR] [--quantization dynamic-int8] [--steps 20]
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codegend.engine.build.pipeline import build_onnx_model  # noqa: E402
from codegend.engine.model_source import resolve_model_source  # noqa: E402
from codegend.engine.onnx.stepper import OnnxStepper  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bench/results/models/codegen-350m",
                        help="model directory (bench_engine.py builds the 350M-shaped one)")
    parser.add_argument("--quantization", default="dynamic-int8")
    parser.add_argument("--prompt", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import onnxruntime as ort

    resolved = resolve_model_source(args.model)
    artifact = build_onnx_model(resolved, args.quantization).artifact
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "decode")  # not into the cwd
    options.log_severity_level = 3
    session = ort.InferenceSession(str(artifact.model_path), options,
                                   providers=["CPUExecutionProvider"])
    stepper = OnnxStepper(session, resolved.max_positions)
    prompt = np.random.default_rng(0).integers(1, resolved.vocab_size, args.prompt).tolist()
    stepper.feed(prompt)
    started = time.perf_counter()
    for _ in range(args.steps):
        stepper.feed([5])
    per_step_ms = (time.perf_counter() - started) / args.steps * 1e3
    profile = Path(session.end_profiling())
    events = json.loads(profile.read_text())
    shutil.rmtree(profile.parent)

    runs = [e for e in events if e.get("name") == "model_run"]
    decode_start = runs[1]["ts"]  # the first run is the prefill
    time_by_op: collections.Counter = collections.Counter()
    nodes_by_op: collections.Counter = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time") \
                and event["ts"] >= decode_start:
            time_by_op[event["args"]["op_name"]] += event["dur"]
            nodes_by_op[event["args"]["op_name"]] += 1
    print(f"{args.quantization}: {per_step_ms:.1f} ms per decode step under the profiler, "
          f"{sum(nodes_by_op.values()) / args.steps:.0f} nodes per step")
    for op, micros in time_by_op.most_common(15):
        print(f"  {op:28} {micros / args.steps / 1e3:7.2f} ms/step  "
              f"{nodes_by_op[op] // args.steps:5d} nodes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
