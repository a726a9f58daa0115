"""Every bad model source gives one clear line naming the path, exit status 1, no traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def _complete(model: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env_cache = tmp_path / "cache"
    return subprocess.run(
        [sys.executable, "-m", "codegend", "complete", "--model", model, "--greedy",
         "--max-new-tokens", "2"],
        input="def f(", capture_output=True, text=True, timeout=240,
        env={"CODEGEND_CACHE_DIR": str(env_cache), "HF_HUB_OFFLINE": "1",
             "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )


def _copy_model(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "model"
    shutil.copytree(src, dst)
    return dst


def _assert_one_clear_line(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1, result.stderr
    for needle in needles:
        assert needle in error_lines[0], error_lines[0]
    assert result.stdout == ""


def test_missing_directory(tmp_path):
    missing = tmp_path / "no-such-model"
    _assert_one_clear_line(_complete(str(missing), tmp_path), str(missing), "no such model")


def test_corrupt_config_json(tiny_codegen_dir, tmp_path):
    model = _copy_model(tiny_codegen_dir, tmp_path)
    (model / "config.json").write_text("{not json")
    _assert_one_clear_line(_complete(str(model), tmp_path), "config.json", "corrupt")


def test_missing_config_json(tiny_codegen_dir, tmp_path):
    model = _copy_model(tiny_codegen_dir, tmp_path)
    (model / "config.json").unlink()
    _assert_one_clear_line(_complete(str(model), tmp_path), "config.json", "missing")


def test_truncated_weights(tiny_codegen_dir, tmp_path):
    model = _copy_model(tiny_codegen_dir, tmp_path)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    _assert_one_clear_line(_complete(str(model), tmp_path), "model.safetensors", "corrupt")


def test_missing_weights(tiny_codegen_dir, tmp_path):
    model = _copy_model(tiny_codegen_dir, tmp_path)
    (model / "model.safetensors").unlink()
    _assert_one_clear_line(_complete(str(model), tmp_path), str(model), "no weights")


def test_tokenizer_that_does_not_match_the_model(tiny_codegen_dir, tmp_path):
    model = _copy_model(tiny_codegen_dir, tmp_path)
    config = json.loads((model / "config.json").read_text())
    config["vocab_size"] = 100  # the tokenizer has ~320 tokens
    (model / "config.json").write_text(json.dumps(config))
    _assert_one_clear_line(_complete(str(model), tmp_path), str(model), "do not match")


def test_unsupported_model_type(tiny_codegen_dir, tmp_path):
    model = _copy_model(tiny_codegen_dir, tmp_path)
    config = json.loads((model / "config.json").read_text())
    config["model_type"] = "llama"
    (model / "config.json").write_text(json.dumps(config))
    _assert_one_clear_line(_complete(str(model), tmp_path), "llama", "not supported")


def test_hub_id_not_in_the_local_cache_is_not_downloaded(tmp_path):
    result = _complete("Salesforce/codegen-350M-mono", tmp_path)
    _assert_one_clear_line(result, "Salesforce/codegen-350M-mono", "not in the Hugging Face cache")


def test_unknown_builtin_model(tmp_path):
    # The error lists the built-in models by name (it once listed "config.json").
    _assert_one_clear_line(_complete("builtin:no-such", tmp_path), "builtin:no-such",
                           "available: tiny-py")


@pytest.mark.parametrize("flag", ["--debug"])
def test_debug_flag_shows_the_traceback(tmp_path, flag):
    result = subprocess.run(
        [sys.executable, "-m", "codegend", flag, "complete", "--model",
         str(tmp_path / "missing")], input="x", capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "Traceback" in result.stderr
