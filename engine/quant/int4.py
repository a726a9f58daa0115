"""4-bit weight-only: block-wise INT4 weights in ONNX Runtime's MatMulNBits, float activations.

Every weight MatMul becomes a MatMulNBits whose weight is stored as 4-bit integers in blocks
of ``block_size`` values along the input axis, each block with its own scale (and zero point
unless symmetric). How the integers are chosen is the ``algorithm``:

- ``rtn``: round to nearest, ONNX Runtime's own C++ block quantizer (fast, no data);
- ``hqq``: half-quadratic optimisation of scales and zero points per block (no data);
- ``kquant``: per-block scale search that minimises the rounding error (llama.cpp's k-quants);
- ``gptq``: rounding that compensates its error using activations of a calibration set of
  code (our own, gptq.py: the GPTQ ONNX Runtime 1.31 vendors never compensates).

``accuracy_level`` is a MatMulNBits runtime attribute: 4 lets the CPU kernel quantize the
activations to INT8 on the fly and use integer dot products (fastest on CPUs with VNNI);
0 computes in float. It is set on every MatMulNBits node whatever the algorithm.
"""

from __future__ import annotations

import logging
from pathlib import Path

from codegend.engine.errors import ArtifactError, CodegendError
from codegend.engine.onnx.graph_files import MODEL_FILE, is_large_graph, save_graph
from codegend.engine.quant.calibration import (
    CALIBRATION_DEFAULTS,
    calibration_set,
    prefill_feeds,
)
from codegend.engine.quant.graph_helpers import matching_nodes, quiet_quantizer, token_embedding
from codegend.engine.quant.options import coerce_options

log = logging.getLogger(__name__)

INT4_ALGORITHMS = ("rtn", "hqq", "kquant", "gptq")
INT4_DEFAULTS = {
    "algorithm": "rtn",  # rtn | hqq | kquant | gptq
    "block_size": 32,  # weights per scale along the input axis (16, 32, 64, 128, 256)
    "symmetric": False,  # False: a zero point per block (hqq always has one)
    "accuracy_level": 4,  # MatMulNBits compute: 4 = int8 activations, 0 = float
    "embedding": "int4",  # int4: the token embedding too (GatherBlockQuantized) | float
    "exclude_nodes": (),  # node-name patterns (fnmatch) left in float
    **CALIBRATION_DEFAULTS,  # gptq only
}
INT4_CHOICES = {"algorithm": INT4_ALGORITHMS, "block_size": (16, 32, 64, 128, 256),
                "accuracy_level": (0, 1, 2, 3, 4), "embedding": ("int4", "float")}


def int4_options(given: dict) -> dict:
    return coerce_options("int4-weight-only", INT4_DEFAULTS, INT4_CHOICES, given)


def quantize_int4_weight_only(optimized: Path, out_dir: Path, options: dict,
                              model_dir: Path) -> dict:
    """The recipe step: MatMul weights to block-wise INT4 with the chosen algorithm."""

    options = int4_options(options)
    excluded = matching_nodes(optimized, options["exclude_nodes"])
    calibration = None
    if options["algorithm"] == "gptq":
        calibration = calibration_set(model_dir, options)
    log.info("INT4 weight-only: %s, blocks of %d%s", options["algorithm"],
             options["block_size"], " (calibrating on code)" if calibration else "")
    try:
        with quiet_quantizer():
            if calibration:
                model = _gptq(optimized, options, excluded, calibration)
            else:
                quantizer = _quantizer(optimized, options, excluded)
                quantizer.process()
                model = quantizer.model.model
            embedding = token_embedding(model) if options["embedding"] == "int4" else None
            if embedding and embedding not in excluded:
                model = _quantize_embedding(model, embedding, options)
        quantized = _set_accuracy_level(model, options["accuracy_level"])
    except CodegendError:
        raise
    except Exception as err:  # the quantizers raise assorted exception types
        raise ArtifactError(f"{optimized}: INT4 weight-only quantization failed ({err})") from err
    if quantized == 0:
        raise ArtifactError(f"{optimized}: no MatMul with a constant weight to quantize to INT4")
    save_graph(model, out_dir / MODEL_FILE, large=is_large_graph(optimized))
    fields = {"algorithm": options["algorithm"], "bits": 4, "block_size": options["block_size"],
              "symmetric": options["symmetric"] and options["algorithm"] != "hqq",
              "accuracy_level": options["accuracy_level"], "matmuls_quantized": quantized,
              "embedding": options["embedding"] if embedding else "float",
              "excluded_nodes": excluded}
    if calibration:
        fields["calibration"] = calibration.describe()
    return fields


def _gptq(optimized: Path, options: dict, excluded: list[str], calibration):
    import onnx

    from codegend.engine.quant.gptq import apply_gptq

    model = onnx.load(str(optimized))
    feeds = prefill_feeds(optimized, calibration.sequences)
    apply_gptq(model, optimized, feeds, options["block_size"], options["symmetric"], excluded)
    return model


def _quantizer(optimized: Path, options: dict, excluded: list[str]):
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        HQQWeightOnlyQuantConfig,
        KQuantWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    block_size = options["block_size"]
    if options["algorithm"] == "rtn":
        config = DefaultWeightOnlyQuantConfig(block_size=block_size,
                                              is_symmetric=options["symmetric"],
                                              op_types_to_quantize=("MatMul",))
    elif options["algorithm"] == "hqq":
        config = HQQWeightOnlyQuantConfig(block_size=block_size, bits=4,
                                          op_types_to_quantize=("MatMul",))
    else:
        config = KQuantWeightOnlyQuantConfig(op_types_to_quantize=("MatMul",))
    # k-quant takes its block size and symmetry from the quantizer rather than its config.
    return MatMulNBitsQuantizer(str(optimized), block_size=block_size,
                                is_symmetric=options["symmetric"],
                                nodes_to_exclude=excluded, algo_config=config)


def _quantize_embedding(model, name: str, options: dict):
    """Block-wise INT4 for the embedding table, blocks along the hidden axis.

    Only ONNX Runtime's own round-to-nearest writes GatherBlockQuantized, so every algorithm
    shares this step. INT4 tensors need ONNX opset 21, which the quantizer declares for the
    whole graph; the exported CodeGen graph uses no operator whose meaning changed since.
    """
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    others = [n.name for n in model.graph.node if n.op_type == "Gather" and n.name != name]
    config = DefaultWeightOnlyQuantConfig(block_size=options["block_size"],
                                          is_symmetric=options["symmetric"],
                                          op_types_to_quantize=("Gather",),
                                          quant_axes=(("Gather", 1),))
    quantizer = MatMulNBitsQuantizer(model, nodes_to_exclude=others, algo_config=config)
    quantizer.process()
    return quantizer.model.model


def _set_accuracy_level(model, level: int) -> int:
    """Set MatMulNBits' compute precision on every quantized node; returns how many."""
    import onnx

    count = 0
    for node in model.graph.node:
        if node.op_type != "MatMulNBits":
            continue
        count += 1
        kept = [a for a in node.attribute if a.name != "accuracy_level"]
        del node.attribute[:]
        node.attribute.extend(kept)
        if level:
            node.attribute.append(onnx.helper.make_attribute("accuracy_level", level))
    return count
