"""End-to-end fixtures: `codegend lsp --embedded` on a tiny CodeGen, through pytest-lsp.

The model is a randomly initialised 2-layer CodeGen with a real byte-level BPE tokenizer,
run by the plain torch backend (no ONNX export) so the whole suite stays quick. Its text is
gibberish without newlines, which is exactly what these tests need: every request reaches
the engine and produces tokens until its budget, so cancellation and caching are visible.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import pytest_asyncio

from tests.lsp.helpers import start_client, stop_client, wait_for_status
from tests.tiny_models import build_tiny_codegen

SHORT_BUDGET = 24  # tokens per completion of the routed model
LONG_BUDGET = 400  # the "long" model, for cancelling a generation half way


def lsp_command(config: Path) -> list[str]:
    return [sys.executable, "-m", "codegend", "lsp", "--embedded", "--config", str(config)]


def server_env(directory: Path) -> dict[str, str]:
    return {
        "CODEGEND_CACHE_DIR": str(directory / "cache"),
        "XDG_STATE_HOME": str(directory / "state"),
        "HF_HUB_OFFLINE": "1",
    }


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_codegen(tmp_path_factory.mktemp("lsp-tiny"), n_positions=1024)


@pytest.fixture(scope="session")
def tiny_config(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = tmp_path_factory.mktemp("lsp-config") / "codegend.yaml"
    # A random model is never confident: these tests are about the server, not the gate
    # (tests/lsp/pipeline/test_confidence_gate.py), so it shows everything.
    config.write_text(
        "models:\n"
        f"  - name: tiny\n    source: {tiny_model_dir}\n    backend: torch\n"
        f"    max_new_tokens: {SHORT_BUDGET}\n    min_confidence: 0\n"
        f"  - name: long\n    source: {tiny_model_dir}\n    backend: torch\n"
        f"    max_new_tokens: {LONG_BUDGET}\n"
        "routes:\n  - {model: tiny}\n"
    )
    return config


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def lsp(tiny_config: Path, tmp_path_factory: pytest.TempPathFactory):
    """A running server, ready, with no debounce (tests that need one set it)."""
    directory = tmp_path_factory.mktemp("lsp-run")
    client, result, statuses = await start_client(
        lsp_command(tiny_config),
        env=server_env(directory),
        initialization_options={"debounceMs": 0},
        configuration={"debounceMs": 0},
    )
    await wait_for_status(statuses, "ready", timeout=120)
    client.statuses = statuses  # type: ignore[attr-defined]
    client.initialize_result = result  # type: ignore[attr-defined]
    yield client
    await stop_client(client)
