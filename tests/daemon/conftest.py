"""Daemon test fixtures: tiny models with known answers, configs, and real daemons on loopback.

``running_daemon`` serves a config with the real ``run_daemon`` (uvicorn, hot swap, registry,
real engine) in a background thread on 127.0.0.1 and an OS-chosen port, and stops it when the
test ends. Tests that need real processes (auto-start, signals) spawn ``codegend serve``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from codegend.daemon.config import DaemonConfig, load_config
from codegend.daemon.http.lifecycle import DaemonHandle, run_daemon
from tests.daemon.tiny_parrots import build_parrot

STOP_TIMEOUT_S = 30.0


@pytest.fixture(scope="session")
def parrots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Model directories whose greedy answers are "aaaa..." and "bbbb..." respectively."""
    root = tmp_path_factory.mktemp("parrots")
    # "b" has room for long generations (tests that need a request still running later).
    return {letter: build_parrot(root / letter, letter, seed=i, n_positions=positions)
            for i, (letter, positions) in enumerate((("a", 256), ("b", 2048)))}


@pytest.fixture
def runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private runtime directory, so no test finds a daemon another test (or a user) runs."""
    directory = tmp_path / "runtime"
    directory.mkdir()
    monkeypatch.setenv("CODEGEND_RUNTIME_DIR", str(directory))
    return directory


def write_config(path: Path, text: str) -> Path:
    """Write the YAML atomically, the way editors save (the watcher must see one change)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def two_model_yaml(parrots: dict[str, Path], *, extra_server: str = "", alpha: str = "a",
                   beta: str = "b", routes: str | None = None, extra_models: str = "") -> str:
    """alpha (ONNX) serves Python, beta (the torch backend) everything else."""
    routes = routes if routes is not None else (
        "  - {languages: [python], model: alpha}\n"
        "  - {model: beta}\n")
    return (
        f"server: {{host: 127.0.0.1, port: 0{extra_server}}}\n"
        "models:\n"
        f"  - {{name: alpha, source: '{parrots[alpha]}', backend: onnx, device: cpu,"
        " quantization: none, max_new_tokens: 8}\n"
        f"  - {{name: beta, source: '{parrots[beta]}', backend: torch, device: cpu,"
        " max_new_tokens: 8}\n"
        f"{extra_models}"
        "routes:\n"
        f"{routes}"
    )


@contextlib.contextmanager
def serve_in_thread(config: DaemonConfig, token: str | None = None) -> Iterator[str]:
    """Run the real daemon for ``config`` in a thread; yields its URL once models are ready."""
    ready = threading.Event()
    handles: list[DaemonHandle] = []
    failure: list[BaseException] = []

    def on_ready(handle: DaemonHandle) -> None:
        handles.append(handle)
        ready.set()

    def main() -> None:
        try:
            asyncio.run(run_daemon(config, token=token, write_runtime=False, on_ready=on_ready))
        except BaseException as err:  # reported by the test thread
            failure.append(err)
            ready.set()

    thread = threading.Thread(target=main, name="test-daemon", daemon=True)
    thread.start()
    assert ready.wait(STOP_TIMEOUT_S), "the daemon did not start"
    if failure:
        raise failure[0]
    url = handles[0].url
    try:
        wait_until_ready(url, token)
        yield url
    finally:
        handles[0].request_stop()
        thread.join(STOP_TIMEOUT_S)
        assert not thread.is_alive(), "the daemon did not stop"


def wait_until_ready(url: str, token: str | None = None, timeout_s: float = 60.0) -> dict:
    """Poll /v1/health until no routed model is still loading."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + timeout_s
    while True:
        health = httpx.get(f"{url}/v1/health", headers=headers, timeout=5).json()
        if health["status"] != "loading":
            return health
        assert time.monotonic() < deadline, f"models still loading: {health['models']}"
        time.sleep(0.05)


def eventually(check: Callable[[], object], timeout_s: float = 30.0, every_s: float = 0.05):
    """Retry ``check`` until it returns something truthy (or fail with its last value)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"condition not met in {timeout_s}s: {value!r}"
        time.sleep(every_s)


@pytest.fixture
def config_file(tmp_path: Path, parrots: dict[str, Path]) -> Path:
    return write_config(tmp_path / "codegend.yaml", two_model_yaml(parrots))


@pytest.fixture
def daemon(config_file: Path) -> Iterator[str]:
    """A daemon serving ``config_file`` (watched: rewrite the file to hot-swap)."""
    with serve_in_thread(load_config(config_file)) as url:
        yield url


def with_server(config: DaemonConfig, **changes) -> DaemonConfig:
    return replace(config, server=replace(config.server, **changes))


def stop_process(pid: int, timeout_s: float = 15.0) -> None:
    """SIGTERM a process this test started (then SIGKILL if it does not go)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):  # reap it if it is our own child
            os.waitpid(pid, os.WNOHANG)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
