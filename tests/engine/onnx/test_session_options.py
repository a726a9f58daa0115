"""How the ONNX stepper's sessions are configured."""

from __future__ import annotations

from codegend.engine.build.pipeline import build_onnx_model
from codegend.engine.model_source import resolve_model_source
from codegend.engine.onnx.stepper import create_session


def test_a_session_stops_its_threads_spinning_when_a_run_ends(tiny_codegen_dir):
    # An idle spinning worker would hold a core the daemon's other model needs
    # (bench/bench_spinning.py measures what it costs).
    artifact = build_onnx_model(resolve_model_source(str(tiny_codegen_dir)), "none").artifact
    options = create_session(artifact.model_path, "cpu", threads=2).get_session_options()
    assert options.get_session_config_entry("session.force_spinning_stop") == "1"
    assert options.intra_op_num_threads == 2
