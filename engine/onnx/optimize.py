"""Stage 2: graph optimization with ONNX Runtime's transformer optimizer (via optimum).

optimum maps CodeGen to the gpt2 fusion patterns: LayerNorm/SkipLayerNorm and FastGelu
fuse; attention does not (CodeGen's rotary attention has no stock fusion), so our own pass
(``fuse_attention``) then replaces each layer's attention with GroupQueryAttention over a KV
cache updated in place, in the fp32 CPU graph and in the fp16 GPU graph alike (on the GPU
it also turns ~90 launch-bound nodes per layer into one kernel). The fused operator counts
go into the manifest so a regression in fusion is visible, and so do the figures of the
validation against torch: to 1e-3 for fp32, relative to the logits' size for fp16 (checked
on the CUDA provider where one is usable, else on the CPU provider, which runs
GroupQueryAttention in fp16 too).
"""

from __future__ import annotations

import collections
import logging
import shutil
from pathlib import Path

from codegend.engine.errors import ArtifactError
from codegend.engine.onnx.graph_files import MODEL_FILE, SINGLE_FILE_LIMIT, data_file, save_graph
from codegend.engine.onnx.validate import fp16_tolerance, logit_differences, require_within

log = logging.getLogger(__name__)

OPTIMIZE_TOLERANCE = 1e-3
OPTIMIZATION_LEVEL = 2  # basic + extended fusions; 99 adds layout changes ORT can redo itself


def operator_counts(model_path: Path) -> collections.Counter:
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    return collections.Counter(node.op_type for node in model.graph.node)


def fused_operators(before: collections.Counter, after: collections.Counter) -> dict[str, int]:
    """Operator types the optimizer introduced (fusions), with how many of each."""
    return {op: n for op, n in sorted(after.items()) if n > before.get(op, 0)}


def fuse_attention(model_path: Path, config) -> int:
    """Rewrite the graph at ``model_path`` in place with fused attention; layers fused."""
    import onnx
    from onnx.external_data_helper import (
        ExternalDataInfo,
        load_external_data_for_model,
        uses_external_data,
    )

    from codegend.engine.onnx.fuse_attention import AttentionShape, fuse_rotary_attention

    # One read of the file: note where the weights live, then load them.
    model = onnx.load(str(model_path), load_external_data=False)
    old_data_files = {ExternalDataInfo(init).location for init in model.graph.initializer
                      if uses_external_data(init)}
    load_external_data_for_model(model, str(model_path.parent))
    layers = fuse_rotary_attention(model, AttentionShape.from_config(config))
    if not layers:
        return 0
    log.info("attention fused into GroupQueryAttention in %d layers", layers)
    # Summed per initializer: the ByteSize of a whole model past 2 GB cannot be computed.
    large = sum(init.ByteSize() for init in model.graph.initializer) > SINGLE_FILE_LIMIT
    save_graph(model, model_path, large)
    for stale in old_data_files - ({data_file(model_path)} if large else set()):
        (model_path.parent / stale).unlink(missing_ok=True)
    return layers


def optimize(source_dir: Path, out_dir: Path, torch_model, vocab_size: int,
             for_gpu: bool = False) -> dict:
    from optimum.onnxruntime import ORTOptimizer
    from optimum.onnxruntime.configuration import OptimizationConfig

    log.info("optimizing the ONNX graph (ONNX Runtime transformer optimizer, gpt2 patterns)")
    staging = out_dir / "staging"
    try:
        optimizer = ORTOptimizer.from_pretrained(str(source_dir), file_names=[MODEL_FILE])
        config = OptimizationConfig(
            optimization_level=OPTIMIZATION_LEVEL, optimize_for_gpu=for_gpu, fp16=for_gpu
        )
        optimizer.optimize(save_dir=str(staging), optimization_config=config)
    except Exception as err:  # the optimizer fails with assorted types on unusual graphs
        raise ArtifactError(f"{source_dir}: graph optimization failed ({err})") from err
    optimized = next(staging.glob("*_optimized.onnx"), None)
    if optimized is None:
        raise ArtifactError(f"{source_dir}: the optimizer wrote no graph")
    for produced in staging.iterdir():  # the graph plus any external-data file it references
        target = MODEL_FILE if produced == optimized else produced.name
        shutil.move(str(produced), str(out_dir / target))
    staging.rmdir()
    fused_layers = fuse_attention(out_dir / MODEL_FILE, torch_model.config)
    fused = fused_operators(operator_counts(source_dir / MODEL_FILE), operator_counts(
        out_dir / MODEL_FILE))
    log.info("fused operators: %s", ", ".join(f"{op} x{n}" for op, n in fused.items()) or "none")
    result = {"fused_operators": fused, "optimization_level": OPTIMIZATION_LEVEL,
              "attention_fused_layers": fused_layers}
    if for_gpu:
        diffs = logit_differences(out_dir / MODEL_FILE, torch_model, vocab_size, device="auto")
        result["validation"] = require_within(diffs, fp16_tolerance(diffs), "optimized fp16",
                                              out_dir)
    else:
        diffs = logit_differences(out_dir / MODEL_FILE, torch_model, vocab_size)
        result["validation"] = require_within(diffs, OPTIMIZE_TOLERANCE, "optimized", out_dir)
    return result
