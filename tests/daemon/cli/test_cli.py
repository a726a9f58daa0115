"""`codegend` on the command line: help, complete at FILE:LINE:COL and from stdin, export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from codegend.daemon.cli.complete import builtin_model_for, split_at
from codegend.daemon.cli.main import COMMANDS
from codegend.engine.errors import CodegendError


def _codegend(*args: str, stdin: str | None = None, cwd: Path | None = None):
    return subprocess.run([sys.executable, "-m", "codegend", *args], input=stdin,
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def test_help_lists_every_subcommand_with_its_description():
    result = _codegend("--help")
    assert result.returncode == 0
    for name, _, description in COMMANDS:
        assert name in result.stdout
        assert description.split()[0] in result.stdout


def _source(tmp_path: Path) -> Path:
    path = tmp_path / "example.py"
    path.write_text("import os\n\ndef add(a, b):\n    return a + b\n\nclass Point:\n    pass\n")
    return path


def test_complete_at_line_and_column_equals_the_torch_reference(tiny_codegen_dir, tmp_path):
    target = f"{_source(tmp_path)}:3:9"  # after "def add("
    common = ("complete", "--model", str(tiny_codegen_dir), "--greedy", "--max-new-tokens", "8",
              "--device", "cpu")
    onnx = _codegend(*common, "--backend", "onnx", "--quantization", "none", target)
    torch_ref = _codegend(*common, "--backend", "torch", target)
    assert onnx.returncode == 0, onnx.stderr
    assert torch_ref.returncode == 0, torch_ref.stderr
    assert onnx.stdout == torch_ref.stdout
    assert onnx.stdout.strip()


def test_complete_reads_stdin_and_prints_only_the_completion(tiny_codegen_dir):
    result = _codegend("complete", "--model", str(tiny_codegen_dir), "--greedy",
                       "--max-new-tokens", "6", "--backend", "torch", stdin="def add(a, b):\n")
    assert result.returncode == 0, result.stderr
    assert "def add" not in result.stdout  # the prompt is not echoed
    assert result.stdout.endswith("\n")


@pytest.mark.parametrize(("position", "message"), [("99:1", "line 99"), ("3:80", "column 80")])
def test_positions_outside_the_file_are_clear_errors(tiny_codegen_dir, tmp_path, position,
                                                     message):
    result = _codegend("complete", "--model", str(tiny_codegen_dir), "--backend", "torch",
                       f"{_source(tmp_path)}:{position}")
    assert result.returncode == 1 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_position_splits_the_file_into_the_prefix_and_the_suffix():
    text = "def add(a, b):\n    return a + b\n"
    assert split_at(text, 1, 9, "f.py") == ("def add(", "a, b):\n    return a + b\n")
    assert split_at(text, 3, 1, "f.py") == (text, "")
    assert split_at(text, None, None, "f.py") == (text, "")


def test_without_a_model_a_file_gets_the_builtin_model_of_its_language(tmp_path):
    assert builtin_model_for(Path("app.py")) == "builtin:tiny-py"
    assert builtin_model_for(Path("src/App.TSX")) == "builtin:tiny-web"
    assert builtin_model_for(Path("App.vue")) == "builtin:tiny-web"
    with pytest.raises(CodegendError, match=r"no built-in model completes \.rs files.*--model"):
        builtin_model_for(Path("main.rs"))
    rust = tmp_path / "main.rs"
    rust.write_text("fn main() {\n")
    result = _codegend("complete", str(rust))
    assert result.returncode == 1 and "--model" in result.stderr
    assert "Traceback" not in result.stderr


def test_binary_file_is_refused(tiny_codegen_dir, tmp_path):
    binary = tmp_path / "blob.py"
    binary.write_bytes(b"abc\x00\x01\x02")
    result = _codegend("complete", "--model", str(tiny_codegen_dir), str(binary))
    assert result.returncode == 1 and "binary" in result.stderr


def test_export_prints_the_manifest_and_then_builds_nothing(tiny_codegen_dir):
    first = _codegend("export", "--model", str(tiny_codegen_dir), "--json", "--device", "cpu")
    assert first.returncode == 0, first.stderr
    manifest = json.loads(first.stdout)
    assert manifest["stage"] == "static-int8"  # the default CPU recipe
    assert Path(manifest["path"]).is_file()
    second = _codegend("export", "--model", str(tiny_codegen_dir), "--json", "--device", "cpu")
    assert json.loads(second.stdout)["built_now"] == []
    assert json.loads(second.stdout)["key"] == manifest["key"]


def test_export_takes_recipe_options_and_records_them(tiny_codegen_dir):
    result = _codegend("export", "--model", str(tiny_codegen_dir), "--json", "--device", "cpu",
                       "--quantization", "dynamic-int8:per_channel=false")
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert manifest["recipe"]["per_channel"] is False
    assert manifest["quantization"]["per_channel"] is False


def test_a_misspelt_recipe_option_is_one_clear_error(tiny_codegen_dir):
    result = _codegend("export", "--model", str(tiny_codegen_dir), "--quantization",
                       "int4-weight-only:blocksize=64")
    assert result.returncode == 1 and "blocksize" in result.stderr
    assert "Traceback" not in result.stderr
