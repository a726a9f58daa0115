"""Fixtures shared by every test tier: tiny CodeGen models built on the spot."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_models import build_tiny_codegen


@pytest.fixture(scope="session")
def tiny_codegen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer CodeGen with a small byte-level BPE tokenizer."""
    return build_tiny_codegen(tmp_path_factory.mktemp("tiny-codegen"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    """ONNX artifacts go to a per-session cache, never the user's real one."""
    cache = tmp_path_factory.getbasetemp() / "codegend-cache"
    monkeypatch.setenv("CODEGEND_CACHE_DIR", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
