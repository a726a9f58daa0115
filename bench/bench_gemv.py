"""How close ONNX Runtime's weight kernels come to the memory bandwidth on one token.

A decode step is mostly matrix-vector products over the weights, so no graph can decode
faster than its MatMul kernels read them. This times those kernels alone: a stack of
CodeGen-350M's 20 layers of weight MatMuls (qkv, out, fc_in, fc_out) on a single token,
as fp32, dynamic INT8 and INT4 MatMulNBits, each against the memory-read bandwidth
measured in the same run. A kernel at 1.3x its floor caps any full model using it at 1.3x
or more.

    python bench/bench_gemv.py [--threads 2] [--layers 20] [--repeats 30]

Prints a table; writes bench/results/gemv.json. Run by hand, not in CI.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_engine import memory_read_bandwidth  # noqa: E402

D_MODEL, D_INNER = 1024, 4096
RESULTS = Path(__file__).resolve().parent / "results"


def layer_stack(layers: int, path: Path) -> None:
    """fp32 graph: per layer, x -> qkv and fc_in (CodeGen's parallel block), out, fc_out."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    shapes = {"qkv": (D_MODEL, 3 * D_MODEL), "out": (D_MODEL, D_MODEL),
              "fc_in": (D_MODEL, D_INNER), "fc_out": (D_INNER, D_MODEL)}
    nodes, weights, x = [], [], "x"
    slice_args = [numpy_helper.from_array(np.array([v]), n)
                  for n, v in (("start", 0), ("end", D_MODEL), ("axis", -1))]
    for layer in range(layers):
        for name, shape in shapes.items():
            weight = (rng.standard_normal(shape) * 0.02).astype(np.float32)
            weights.append(numpy_helper.from_array(weight, f"{layer}.{name}"))
        p = f"{layer}."
        nodes += [
            helper.make_node("MatMul", [x, p + "qkv"], [p + "qkv_out"]),
            helper.make_node("Slice", [p + "qkv_out", "start", "end", "axis"], [p + "attn"]),
            helper.make_node("MatMul", [p + "attn", p + "out"], [p + "out_out"]),
            helper.make_node("MatMul", [x, p + "fc_in"], [p + "fc_in_out"]),
            helper.make_node("Tanh", [p + "fc_in_out"], [p + "act"]),
            helper.make_node("MatMul", [p + "act", p + "fc_out"], [p + "fc_out_out"]),
            helper.make_node("Add", [p + "out_out", p + "fc_out_out"], [p + "branch"]),
            helper.make_node("Add", [p + "branch", x], [p + "residual"]),
        ]
        x = p + "residual"
    for index, node in enumerate(nodes):
        node.name = f"node{index}"
    graph = helper.make_graph(
        nodes, "layer-stack",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, D_MODEL])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, D_MODEL])],
        weights + slice_args)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, str(path))


def variants(fp32: Path, workdir: Path) -> dict[str, Path]:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    paths = {"fp32": fp32, "dynamic-int8": workdir / "dynamic-int8.onnx"}
    quantize_dynamic(str(fp32), str(paths["dynamic-int8"]), per_channel=True,
                     weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
    for block in (32, 128):
        config = DefaultWeightOnlyQuantConfig(block_size=block, is_symmetric=True,
                                              accuracy_level=4)
        quantizer = MatMulNBitsQuantizer(onnx.load(str(fp32)), algo_config=config)
        quantizer.process()
        paths[f"int4 b{block}"] = workdir / f"int4-b{block}.onnx"
        quantizer.model.save_model_to_file(str(paths[f"int4 b{block}"]), False)
    return paths


def time_graph(path: Path, threads: int, repeats: int) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).random((1, D_MODEL), dtype=np.float32)
    for _ in range(5):
        session.run(None, {"x": x})
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        session.run(None, {"x": x})
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def weight_bytes(path: Path) -> int:
    import onnx

    return sum(len(t.raw_data) or onnx.numpy_helper.to_array(t).nbytes
               for t in onnx.load(str(path)).graph.initializer)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--layers", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="codegend-gemv-") as tmp:
        workdir = Path(tmp)
        layer_stack(args.layers, workdir / "fp32.onnx")
        paths = variants(workdir / "fp32.onnx", workdir)
        bandwidths = [memory_read_bandwidth(args.threads)]
        rows = []
        for name, path in paths.items():
            seconds = time_graph(path, args.threads, args.repeats)
            rows.append({"kernel": name, "weight_bytes": weight_bytes(path),
                         "seconds": seconds})
            bandwidths.append(memory_read_bandwidth(args.threads))
    bandwidth = max(bandwidths)
    print(f"\n{'weights as':14} {'MB':>7} {'ms':>7} {'GB/s':>6} {'vs floor':>8}")
    for row in rows:
        row["bytes_per_s"] = row["weight_bytes"] / row["seconds"]
        row["vs_floor"] = row["seconds"] / (row["weight_bytes"] / bandwidth)
        print(f"{row['kernel']:14} {row['weight_bytes'] / 1e6:7.1f} {row['seconds'] * 1e3:7.2f} "
              f"{row['bytes_per_s'] / 1e9:6.1f} {row['vs_floor']:7.2f}x")
    print(f"memory read bandwidth {bandwidth / 1e9:.1f} GB/s (best of {len(bandwidths)}); "
          f"{args.layers} layers of CodeGen-350M weight MatMuls, one token, "
          f"{args.threads} threads, median of {args.repeats}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "gemv.json").write_text(json.dumps(
        {"threads": args.threads, "layers": args.layers, "bandwidth_bytes_per_s": bandwidths,
         "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
