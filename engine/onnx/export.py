"""Stage 1: export a CodeGen checkpoint to ONNX with optimum (text-generation-with-past)."""

from __future__ import annotations

import logging
from pathlib import Path

from codegend.engine.errors import ArtifactError
from codegend.engine.model_source import ResolvedModel
from codegend.engine.onnx.graph_files import MODEL_FILE
from codegend.engine.onnx.validate import logit_differences, require_within

log = logging.getLogger(__name__)

EXPORT_TOLERANCE = 1e-3  # fp32 export vs torch; real checkpoints differ by ~1e-5


def export_fp32(resolved: ResolvedModel, out_dir: Path, torch_model) -> dict:
    from optimum.exporters.onnx import main_export

    log.info("exporting %s to ONNX (optimum, text-generation-with-past)", resolved.path)
    try:
        main_export(
            str(resolved.path),
            output=str(out_dir),
            task="text-generation-with-past",
            device="cpu",
            do_validation=False,  # validated below, against the model we serve with
            local_files_only=True,
        )
    except Exception as err:  # optimum raises a wide range of errors for odd checkpoints
        raise ArtifactError(f"{resolved.path}: ONNX export failed ({err})") from err
    if not (out_dir / MODEL_FILE).is_file():
        raise ArtifactError(f"{resolved.path}: ONNX export produced no {MODEL_FILE}")
    diffs = logit_differences(out_dir / MODEL_FILE, torch_model, resolved.vocab_size)
    return {"validation": require_within(diffs, EXPORT_TOLERANCE, "exported", out_dir)}
