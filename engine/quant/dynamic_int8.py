"""Stage 3: quantization of the optimized graph — dynamic INT8, and what every recipe shares.

ONNX's own shape inference does not know ONNX Runtime's contrib operators (FastGelu,
SkipLayerNormalization) that the optimizer fused in, so the quantizer cannot find the types
of their outputs ("Unable to find data type for weight_name=..."). ONNX Runtime's symbolic
shape inference does know them: running it first annotates every tensor, and quantization
then sees a fully typed graph. Static INT8 (static_int8.py) and INT4 (int4.py)
reuse the helpers here: shape inference, node exclusion by name pattern, quiet quantizers.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import logging
import warnings
from pathlib import Path

from codegend.engine.errors import ArtifactError, CodegendError
from codegend.engine.quant.options import coerce_options

log = logging.getLogger(__name__)


def with_inferred_shapes(model_path: Path, out_path: Path) -> Path:
    import onnx
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    model = onnx.load(str(model_path))
    try:
        inferred = SymbolicShapeInference.infer_shapes(
            model, auto_merge=True, guess_output_rank=True
        )
    except Exception as err:  # inference failures come as assorted exception types
        raise ArtifactError(f"{model_path}: symbolic shape inference failed ({err})") from err
    _save(inferred, out_path)
    return out_path


DYNAMIC_INT8_DEFAULTS = {
    "per_channel": True,  # one weight scale per output channel (False: per tensor)
    "exclude_nodes": (),  # node-name patterns (fnmatch) left in float
}


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


def quantize_dynamic_int8(optimized: Path, out_dir: Path, options: dict,
                          model_dir: Path) -> dict:
    """INT8 weights, per-channel and symmetric; activations quantized on the fly (so it
    needs no calibration and ignores ``model_dir``)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    options = coerce_options("dynamic-int8", DYNAMIC_INT8_DEFAULTS, {}, options)
    excluded = matching_nodes(optimized, options["exclude_nodes"])
    typed = with_inferred_shapes(optimized, out_dir / "typed.onnx")
    per_channel = options["per_channel"]
    log.info("quantizing weights to INT8 (dynamic, %s, symmetric)",
             "per-channel" if per_channel else "per-tensor")
    try:
        with quiet_quantizer():
            quantize_dynamic(
                str(typed),
                str(out_dir / "model.onnx"),
                per_channel=per_channel,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=excluded,
                extra_options={"WeightSymmetric": True, "MatMulConstBOnly": True},
                use_external_data_format=is_large_graph(optimized),
            )
    except Exception as err:  # the quantizer raises plain RuntimeErrors and friends
        raise ArtifactError(f"{optimized}: dynamic INT8 quantization failed ({err})") from err
    finally:
        remove_graph(typed)
    fields = {"per_channel": per_channel, "weight_type": "int8", "weight_symmetric": True}
    return {**fields, "excluded_nodes": excluded} if excluded else fields


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


def remove_graph(path: Path) -> None:
    """Delete a helper graph and the external-data file a large one keeps beside it."""
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".data").unlink(missing_ok=True)


def is_large_graph(model_path: Path) -> bool:
    """Graphs over protobuf's 2 GB limit must keep their weights in external data."""
    total = sum(p.stat().st_size for p in model_path.parent.iterdir() if p.is_file())
    return total > 1_800_000_000


def _save(model, path: Path) -> None:
    import onnx

    if model.ByteSize() > 1_800_000_000:
        onnx.save(model, str(path), save_as_external_data=True, location=path.name + ".data")
    else:
        onnx.save(model, str(path))


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
