"""Static INT8: weights and activations INT8, activation ranges fixed ahead of time.

The optimized graph runs over a calibration set of code; the chosen calibrator (MinMax,
Percentile, Entropy) turns the activations it saw into a scale and zero point per tensor, and
the quantizer writes QuantizeLinear/DequantizeLinear pairs around every weight MatMul (the QDQ
format, which ONNX Runtime's CPU kernels fuse into integer MatMuls with float outputs).
Attention's two activation-by-activation MatMuls stay in float: their ranges depend on the
position in the sequence far more than calibration on short windows can capture.

Node names can be excluded with shell-style patterns (``*lm_head*``), and whole operator
types with ``exclude_op_types``, for the operators whose quantization measurably hurts.
"""

from __future__ import annotations

import logging
from pathlib import Path

from codegend.engine.errors import ArtifactError, CodegendError
from codegend.engine.onnx.graph_files import MODEL_FILE, is_large_graph, remove_graph
from codegend.engine.quant.calibration import (
    CALIBRATION_DEFAULTS,
    WindowReader,
    calibration_set,
    prefill_feeds,
)
from codegend.engine.quant.graph_helpers import (
    matching_nodes,
    quiet_quantizer,
    token_embedding,
    with_inferred_shapes,
)
from codegend.engine.quant.options import coerce_options

log = logging.getLogger(__name__)

CALIBRATION_METHODS = ("minmax", "percentile", "entropy")
STATIC_INT8_DEFAULTS = {
    "method": "minmax",  # minmax | percentile | entropy
    "percentile": 99.999,  # kept share of each activation histogram (method=percentile)
    "histogram_bins": 512,  # histogram resolution of the percentile and entropy methods
    "activation_symmetric": False,  # False: uint8 activations with a zero point
    "weight_symmetric": True,
    "per_channel": True,  # one weight scale per output channel (False: per tensor)
    "op_types": ("MatMul",),  # operator types to quantize
    "quantize_outputs": False,  # True: requantize MatMul outputs to uint8 too
    "embedding": "int8",  # int8: the token embedding table too (per tensor) | float
    "exclude_op_types": (),
    "exclude_nodes": (),  # node-name patterns (fnmatch), e.g. "*lm_head*"
    **CALIBRATION_DEFAULTS,
}
STATIC_INT8_CHOICES = {"method": CALIBRATION_METHODS, "embedding": ("int8", "float")}
ENTROPY_QUANTIZED_BINS = 128  # int8 has 256 levels: half of them on each side of zero


def static_int8_options(given: dict) -> dict:
    return coerce_options("static-int8", STATIC_INT8_DEFAULTS, STATIC_INT8_CHOICES, given)


def quantize_static_int8(optimized: Path, out_dir: Path, options: dict,
                         model_dir: Path) -> dict:
    """The recipe step: calibrate on code, then write the QDQ-quantized graph."""
    from onnxruntime.quantization import (
        QuantFormat,
        QuantType,
        quantize_static,
    )

    options = static_int8_options(options)
    if options["method"] != "minmax" and options["histogram_bins"] <= ENTROPY_QUANTIZED_BINS:
        raise CodegendError(f"static-int8: histogram_bins must exceed {ENTROPY_QUANTIZED_BINS} "
                            "(with fewer bins entropy calibration has one candidate: MinMax)")
    calibration = calibration_set(model_dir, options)
    op_types = [t for t in options["op_types"] if t not in options["exclude_op_types"]]
    if not op_types:
        raise CodegendError("static-int8: every operator type is excluded; nothing to quantize")
    excluded = matching_nodes(optimized, options["exclude_nodes"])
    typed = with_inferred_shapes(optimized, out_dir / "typed.onnx")
    embedding = _embedding_gather(typed, options, excluded)
    # ONNX Runtime's QDQ quantizer ignores MatMulConstBOnly, so attention's activation-by-
    # activation MatMuls are kept in float by name.
    kept_float = excluded + [n for n in activation_matmuls(typed) if n not in excluded]
    if embedding:
        op_types.append("Gather")
        # Only the token embedding: CodeGen's rotary table is a constant Gather too, and
        # 8-bit positions would blur every attention score.
        kept_float += [n for n in _gather_nodes(typed) if n != embedding]
    feeds = prefill_feeds(typed, calibration.sequences)
    log.info("static INT8: calibrating (%s) on %d windows of %d tokens from %s",
             options["method"], len(feeds), len(calibration.sequences[0]), calibration.source)
    ranges = out_dir / "activation_ranges.json"
    try:
        with quiet_quantizer():
            method = collect_activation_ranges(typed, feeds, op_types, options, ranges)
            quantize_static(
                str(typed),
                str(out_dir / MODEL_FILE),
                None,  # the ranges come from the file written above
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=op_types,
                per_channel=options["per_channel"],
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=kept_float,
                calibrate_method=method,
                calibration_cache_path=str(ranges),
                use_external_data_format=is_large_graph(optimized),
                extra_options={
                    "ActivationSymmetric": options["activation_symmetric"],
                    "WeightSymmetric": options["weight_symmetric"],
                    "MatMulConstBOnly": True,
                    # Float MatMul outputs let ONNX Runtime fuse each one into a single
                    # MatMulIntegerToFloat instead of requantizing every result to uint8.
                    "OpTypesToExcludeOutputQuantization":
                        [] if options["quantize_outputs"] else ["MatMul"],
                },
            )
    except CodegendError:
        raise
    except Exception as err:  # calibrators and quantizer raise assorted exception types
        raise ArtifactError(f"{optimized}: static INT8 quantization failed ({err})") from err
    finally:
        remove_graph(typed)
        ranges.unlink(missing_ok=True)
    return {
        "method": options["method"],
        **({"percentile": options["percentile"]} if options["method"] == "percentile" else {}),
        "activation_type": "uint8",
        "activation_symmetric": options["activation_symmetric"],
        "weight_type": "int8",
        "weight_symmetric": options["weight_symmetric"],
        "per_channel": options["per_channel"],
        **({"histogram_bins": options["histogram_bins"]}
           if options["method"] != "minmax" else {}),
        "op_types": op_types,
        "quantize_outputs": options["quantize_outputs"],
        "embedding": "int8" if embedding else "float",
        "excluded_nodes": excluded,
        "calibration": calibration.describe(),
    }


def _embedding_gather(typed: Path, options: dict, excluded: list[str]) -> str | None:
    import onnx

    if options["embedding"] != "int8" or "Gather" in options["exclude_op_types"]:
        return None
    name = token_embedding(onnx.load(str(typed), load_external_data=False))
    return name if name and name not in excluded else None


def activation_matmuls(model_path: Path) -> list[str]:
    """MatMuls whose both inputs are activations (attention scores and their use)."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    constants = {t.name for t in graph.initializer}
    return [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] not in constants]


def _gather_nodes(model_path: Path) -> list[str]:
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    return [n.name for n in graph.node if n.op_type == "Gather"]


def collect_activation_ranges(typed: Path, feeds: list[dict], op_types: list[str],
                              options: dict, ranges_path: Path):
    """Run the calibrator one window at a time and write the activation ranges it settles on.

    We drive the calibrator ourselves rather than through ``quantize_static``, which cannot
    set the histogram size: the Entropy calibrator's default (128 bins for 128 quantized
    bins) leaves it a single candidate threshold, so it silently equals MinMax. One window
    per ``collect_data`` call also keeps only one window's activations in memory at a time.
    Returns the CalibrationMethod to quantize with.
    """
    import tempfile

    from onnxruntime.quantization import CalibrationMethod
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data

    method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
              "entropy": CalibrationMethod.Entropy}[options["method"]]
    extra = {"symmetric": options["activation_symmetric"],
             "num_bins": options["histogram_bins"], "num_quantized_bins": ENTROPY_QUANTIZED_BINS,
             "percentile": options["percentile"]}
    with tempfile.TemporaryDirectory(prefix="codegend-calibration-") as work:
        calibrator = create_calibrator(typed, op_types,
                                       augmented_model_path=str(Path(work) / "augmented.onnx"),
                                       calibrate_method=method,
                                       use_external_data_format=is_large_graph(typed),
                                       extra_options=extra)
        for feed in feeds:
            calibrator.collect_data(WindowReader([feed]))
        save_tensors_data(calibrator.compute_data(), ranges_path)
        del calibrator  # its session holds the augmented graph open
    return method
