"""Fuzz the HTTP API from its own OpenAPI schema (schemathesis): no 5xx, the daemon survives.

Schemathesis runs as its own process against a real daemon on 127.0.0.1: boundary values of
every documented field (its coverage phase), then valid and invalid generated requests for
every operation. A response must never be a server error and its status must be one the
schema documents. Afterwards the daemon must still answer a normal completion.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from codegend.daemon.config import load_config
from tests.daemon.conftest import serve_in_thread, two_model_yaml, write_config

EXAMPLES_PER_OPERATION = 50


def test_fuzzing_the_schema_finds_no_server_error(tmp_path: Path, parrots):
    # Everything routes to the fast ONNX model so the time goes into breadth of inputs.
    yaml = two_model_yaml(parrots, extra_server=", max_tokens_limit: 8, max_body_bytes: 20000,"
                                                " max_queue: 64", routes="  - {model: alpha}\n")
    with serve_in_thread(load_config(write_config(tmp_path / "c.yaml", yaml))) as url:
        result = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json",
             "--checks", "not_a_server_error,status_code_conformance",
             "--max-examples", str(EXAMPLES_PER_OPERATION), "--phases", "coverage,fuzzing",
             "--generation-database", "none", "--workers", "1", "--request-timeout", "30",
             "--seed", "20261120", "--no-color"],
            capture_output=True, text=True, timeout=240, cwd=tmp_path)
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        assert "8 selected / 8 total" in result.stdout  # every operation was fuzzed

        health = httpx.get(url + "/v1/health").json()
        assert health["status"] == "ok"
        response = httpx.post(url + "/v1/codegend/complete",
                              json={"prefix": "def f(", "language": "python"}, timeout=30)
        assert response.status_code == 200 and response.json()["text"] == "a" * 8
