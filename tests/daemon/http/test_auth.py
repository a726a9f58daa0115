"""Bearer tokens: required off loopback, checked on every request; refusal without one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from codegend.daemon.cli.serve import checked_token
from codegend.daemon.config import load_config
from tests.daemon.conftest import serve_in_thread, two_model_yaml, with_server, write_config


def test_a_public_config_needs_the_token_on_every_request(tmp_path: Path, parrots, monkeypatch):
    monkeypatch.setenv("CODEGEND_TEST_TOKEN", "correct horse")
    yaml = two_model_yaml(parrots).replace(
        "host: 127.0.0.1, port: 0", "host: 0.0.0.0, port: 0, token_env: CODEGEND_TEST_TOKEN")
    config = load_config(write_config(tmp_path / "public.yaml", yaml))
    token = checked_token(config)  # exactly what `codegend serve` does with this file
    assert token == "correct horse"
    # The test listens on loopback only; the token requirement comes from the config.
    with serve_in_thread(with_server(config, host="127.0.0.1"), token=token) as url:
        requests = [("GET", "/v1/health", None), ("GET", "/metrics", None),
                    ("GET", "/v1/models", None),
                    ("POST", "/v1/completions", {"prompt": "x"}),
                    ("POST", "/v1/codegend/complete", {"prefix": "x"}),
                    ("GET", "/openapi.json", None)]
        for method, path, body in requests:
            for headers in ({}, {"Authorization": "Bearer wrong"},
                            {"Authorization": "correct horse"}):
                response = httpx.request(method, url + path, json=body, headers=headers)
                assert response.status_code == 401, (path, headers)
                assert response.headers["WWW-Authenticate"] == "Bearer"
            ok = httpx.request(method, url + path, json=body, timeout=30,
                               headers={"Authorization": "Bearer correct horse"})
            assert ok.status_code == 200, (path, ok.text)


def serve(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codegend", "serve", "--config", str(config),
                           *args], capture_output=True, text=True, timeout=60)


def test_serve_refuses_to_start_without_a_token(tmp_path: Path, parrots, monkeypatch,
                                                runtime_dir: Path):
    monkeypatch.delenv("CODEGEND_MISSING_TOKEN", raising=False)
    no_token = write_config(tmp_path / "a.yaml", two_model_yaml(parrots).replace(
        "host: 127.0.0.1", "host: 0.0.0.0"))
    result = serve(no_token)
    assert result.returncode == 1
    assert "server.host: binding to 0.0.0.0 (not loopback) requires a bearer token" \
        in result.stderr

    loopback = write_config(tmp_path / "b.yaml", two_model_yaml(parrots))
    result = serve(loopback, "--host", "0.0.0.0")
    assert result.returncode == 1
    assert "refusing to listen on 0.0.0.0 without a bearer token" in result.stderr

    unset = write_config(tmp_path / "c.yaml", two_model_yaml(parrots).replace(
        "host: 127.0.0.1", "host: 0.0.0.0, token_env: CODEGEND_MISSING_TOKEN"))
    result = serve(unset)
    assert result.returncode == 1
    assert "CODEGEND_MISSING_TOKEN is unset or empty" in result.stderr
    assert not (runtime_dir / "daemon.json").exists()
