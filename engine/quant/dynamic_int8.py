"""Dynamic INT8: weights INT8 ahead of time, activations quantized on the fly.

The default recipe on the CPU: it needs no calibration data. Weights are per-channel and
symmetric; the graph is typed first (``graph_helpers.with_inferred_shapes``) because the
quantizer cannot type the optimizer's contrib operators on its own.
"""

from __future__ import annotations

import logging
from pathlib import Path

from codegend.engine.errors import ArtifactError
from codegend.engine.onnx.graph_files import MODEL_FILE, is_large_graph, remove_graph
from codegend.engine.quant.graph_helpers import (
    matching_nodes,
    quiet_quantizer,
    with_inferred_shapes,
)
from codegend.engine.quant.options import coerce_options

log = logging.getLogger(__name__)

DYNAMIC_INT8_DEFAULTS = {
    "per_channel": True,  # one weight scale per output channel (False: per tensor)
    "exclude_nodes": (),  # node-name patterns (fnmatch) left in float
}


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
                str(out_dir / MODEL_FILE),
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
