"""Stage 3: quantization of the optimized graph.

ONNX's own shape inference does not know ONNX Runtime's contrib operators (FastGelu,
SkipLayerNormalization) that the optimizer fused in, so the quantizer cannot find the types
of their outputs ("Unable to find data type for weight_name=..."). ONNX Runtime's symbolic
shape inference does know them: running it first annotates every tensor, and quantization
then sees a fully typed graph.
"""

from __future__ import annotations

import logging
from pathlib import Path

from codegend.engine.errors import ArtifactError

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


def quantize_dynamic_int8(optimized: Path, out_dir: Path, options: dict) -> dict:
    """INT8 weights, per-channel and symmetric; activations quantized on the fly."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    typed = with_inferred_shapes(optimized, out_dir / "typed.onnx")
    per_channel = bool(options.get("per_channel", True))
    log.info("quantizing weights to INT8 (dynamic, %s, symmetric)",
             "per-channel" if per_channel else "per-tensor")
    try:
        quantize_dynamic(
            str(typed),
            str(out_dir / "model.onnx"),
            per_channel=per_channel,
            weight_type=QuantType.QInt8,
            extra_options={"WeightSymmetric": True, "MatMulConstBOnly": True},
            use_external_data_format=_is_large(optimized),
        )
    except Exception as err:  # the quantizer raises plain RuntimeErrors and friends
        raise ArtifactError(f"{optimized}: dynamic INT8 quantization failed ({err})") from err
    finally:
        typed.unlink(missing_ok=True)
    return {"per_channel": per_channel, "weight_type": "int8", "weight_symmetric": True}


def _is_large(model_path: Path) -> bool:
    """Graphs over protobuf's 2 GB limit must keep their weights in external data."""
    total = sum(p.stat().st_size for p in model_path.parent.iterdir() if p.is_file())
    return total > 1_800_000_000


def _save(model, path: Path) -> None:
    import onnx

    if model.ByteSize() > 1_800_000_000:
        onnx.save(model, str(path), save_as_external_data=True, location=path.name + ".data")
    else:
        onnx.save(model, str(path))
