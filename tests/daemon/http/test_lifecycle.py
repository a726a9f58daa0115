"""Graceful shutdown of a real ``codegend serve`` process on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from codegend.daemon.runtime_file import read_runtime_info
from tests.daemon.conftest import (
    eventually,
    stop_process,
    two_model_yaml,
    wait_until_ready,
    write_config,
)


def stream_events(url: str, body: dict, events: list, first: threading.Event) -> None:
    """Read one streamed completion into ``events``; a cut connection ends with "cut"."""
    try:
        with httpx.stream("POST", url + "/v1/codegend/complete", json=body, timeout=60) as r:
            for line in r.iter_lines():
                if line:
                    events.append(json.loads(line))
                    first.set()
    except httpx.HTTPError:
        events.append({"type": "cut"})
    first.set()


def test_sigterm_finishes_what_it_can_cancels_the_rest_and_cleans_up(
        tmp_path: Path, parrots, runtime_dir: Path):
    yaml = two_model_yaml(parrots, extra_server=", shutdown_timeout_s: 1, max_tokens_limit: 2000")
    config = write_config(tmp_path / "c.yaml", yaml)
    daemon = subprocess.Popen([sys.executable, "-m", "codegend", "serve", "--config",
                               str(config)], stderr=subprocess.PIPE, text=True)
    try:
        info = eventually(lambda: read_runtime_info(runtime_dir), timeout_s=60)
        assert info.pid == daemon.pid
        wait_until_ready(info.url)
        second = subprocess.run([sys.executable, "-m", "codegend", "serve", "--config",
                                 str(config)], capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert f"already running at {info.url} (pid {daemon.pid})" in second.stderr
        # A short request on the ONNX model ends well within the 1 s grace period; a long
        # one on the (much slower) torch model cannot and is cancelled at the bound.
        short, long = [], []
        started = [threading.Event(), threading.Event()]
        readers = [
            threading.Thread(target=stream_events, args=(info.url, {
                "prefix": "x", "language": "python", "max_new_tokens": 40, "stream": True},
                short, started[0])),
            threading.Thread(target=stream_events, args=(info.url, {
                "prefix": "y", "language": "rust", "max_new_tokens": 2000, "stream": True},
                long, started[1])),
        ]
        for reader in readers:
            reader.start()
        assert all(event.wait(30) for event in started)
        os.kill(daemon.pid, signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
        for reader in readers:
            reader.join(10)
        stderr = daemon.stderr.read()
    finally:
        stop_process(daemon.pid)
    assert short[-1]["type"] == "done", short[-3:]
    assert short[-1]["result"]["text"] == "a" * 40
    texts = "".join(e.get("text", "") for e in long)
    assert 0 < len(texts) < 2000 and set(texts) == {"b"}
    assert long[-1]["type"] == "cut" or long[-1]["result"]["finish_reason"] == "cancelled"
    assert not (runtime_dir / "daemon.json").exists()
    assert "received SIGTERM" in stderr and "stopped" in stderr
    try:
        httpx.get(info.url + "/v1/health", timeout=2)
        raise AssertionError("the daemon still answers after shutdown")
    except httpx.ConnectError:
        pass
