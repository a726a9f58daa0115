"""What the quantization recipes share: typed graphs, node selection, intermediate tensors.

ONNX's own shape inference does not know ONNX Runtime's contrib operators (FastGelu,
SkipLayerNormalization) that the optimizer fused in, so a quantizer cannot find the types
of their outputs ("Unable to find data type for weight_name=..."). ONNX Runtime's symbolic
shape inference does know them: ``with_inferred_shapes`` runs it first, and quantization
then sees a fully typed graph. The rest picks nodes (by name pattern, the token embedding,
the weight MatMuls), runs a graph with intermediate tensors exposed (GPTQ's calibration and
the sensitivity evaluation), and keeps ONNX Runtime's quantizers quiet.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import logging
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from codegend.engine.errors import ArtifactError, CodegendError
from codegend.engine.onnx.graph_files import save_graph


def with_inferred_shapes(model_path: Path, out_path: Path) -> Path:
    """A copy of the graph at ``out_path`` with every tensor typed (see the module docstring)."""
    import onnx
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    model = onnx.load(str(model_path))
    try:
        inferred = SymbolicShapeInference.infer_shapes(
            model, auto_merge=True, guess_output_rank=True
        )
    except Exception as err:  # inference failures come as assorted exception types
        raise ArtifactError(f"{model_path}: symbolic shape inference failed ({err})") from err
    save_graph(inferred, out_path)
    return out_path


def matching_nodes(model_path: Path, patterns: tuple[str, ...]) -> list[str]:
    """Names of the graph's nodes that match any of the shell-style ``patterns``."""
    import onnx

    if not patterns:
        return []
    model = onnx.load(str(model_path), load_external_data=False)
    names = [node.name for node in model.graph.node]
    matched = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    unmatched = [p for p in patterns if not any(fnmatch.fnmatchcase(n, p) for n in names)]
    if unmatched:
        raise CodegendError(f"exclude_nodes: no node matches {unmatched[0]!r} "
                            f"(node names look like {names[len(names) // 2]!r})")
    return matched


def token_embedding(model) -> str | None:
    """The Gather that looks up ``input_ids`` in a constant table: the token embedding.

    Other constant Gathers (CodeGen's rotary sin/cos table, looked up by position) must stay
    in float: 4-bit positions would blur every attention score.
    """
    constants = {t.name for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Gather" and node.input[0] in constants and \
                node.input[1] == "input_ids":
            return node.name
    return None


def weight_matmuls(model) -> list[tuple[str, str, str]]:
    """(node name, input tensor, output tensor) of every MatMul with a constant weight."""
    constants = {t.name for t in model.graph.initializer}
    return [(n.name, n.input[0], n.output[0]) for n in model.graph.node
            if n.op_type == "MatMul" and n.input[1] in constants]


def run_exposed(graph_path: Path, tensors: list[str], feeds: list[dict],
                threads: int | None = None) -> Iterator[dict[str, np.ndarray]]:
    """Run ``graph_path`` on each feed with ``tensors`` exposed as extra outputs; yields, per
    feed, the values of those of them the graph produces (float32)."""
    import onnx

    from codegend.engine.onnx.stepper import create_session

    model = onnx.load(str(graph_path))
    produced = {o for node in model.graph.node for o in node.output}
    present = [t for t in tensors if t in produced]
    existing = {o.name for o in model.graph.output}
    for name in present:
        if name not in existing:
            model.graph.output.append(
                onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    with tempfile.TemporaryDirectory(prefix="codegend-exposed-") as work:
        path = Path(work) / "exposed.onnx"
        save_graph(model, path)
        del model
        session = create_session(path, "cpu", threads)
        try:
            for feed in feeds:
                outputs = session.run(present, feed)
                yield {name: np.asarray(value, dtype=np.float32)
                       for name, value in zip(present, outputs, strict=True)}
        finally:
            del session


@contextlib.contextmanager
def quiet_quantizer():
    """Keep ONNX Runtime's quantizers from talking over the CLI.

    They print progress bars and histogram summaries to stdout (which carries the CLI's
    output), log a line per tensor at INFO, and warn on the root logger about a
    pre-processing step that does not apply to transformer graphs.
    """
    names = ("onnxruntime.quantization.matmul_nbits_quantizer",
             "onnxruntime.quantization.neural_compressor.weight_only", "")
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # e.g. torch on read-only arrays
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
