"""Start-up and trips per completion, for bench_daemon.py (``--startup``, ``--trips``).

Start-up, with the model's artifact already built (a first untimed run builds it): from the
process start to the first completion answered, for

- ``codegend serve``: the first ``POST /v1/codegend/complete`` answered 200 (asked again
  every 50 ms until then, as an editor waiting for it would);
- ``codegend lsp --embedded``: the first explicit inline completion with an item (asked
  again until one comes: a server that answers empty while loading is not ready);
- ``codegend complete``: the whole command.

Trips: a thin ``codegend lsp`` (the daemon's HTTP client) asks for explicit completions in
fresh documents through a counting TCP proxy in front of the daemon; every HTTP request line
to ``/v1/codegend/`` is a trip. Everything is measured from outside the processes, with plain
HTTP and LSP, so the same code measures an older checkout (``PYTHONPATH`` at its package).
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from lsprotocol import types
from pygls.lsp.client import LanguageClient

PROMPT = "import os\n\n\ndef list_files(root):\n    "
TRIP = re.compile(rb"(GET|POST) (/v1/codegend/[a-z_]+)\S* HTTP/1\.1\r\n")


def codegend(*args: str) -> list[str]:
    return [sys.executable, "-m", "codegend", *args]


def serve_ready_s(config: Path, env: dict[str, str], runtime: Path) -> float:
    started = time.perf_counter()
    process = subprocess.Popen(codegend("serve", "--config", str(config)), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = _runtime_url(runtime, process)
        with httpx.Client(timeout=120, trust_env=False) as http:
            while True:
                try:
                    answer = http.post(url + "/v1/codegend/complete", json={
                        "prefix": PROMPT, "language": "python", "max_new_tokens": 8})
                    if answer.status_code == 200:
                        return time.perf_counter() - started
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(60)


def _runtime_url(runtime: Path, process: subprocess.Popen) -> str:
    import json

    while True:
        try:
            info = json.loads((runtime / "daemon.json").read_text())
            if info.get("pid") == process.pid:
                return info["url"]
        except (OSError, ValueError):
            pass
        if process.poll() is not None:
            raise SystemExit("codegend serve exited at start")
        time.sleep(0.01)


async def embedded_ready_s(config: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    client = LanguageClient("bench-startup", "1")
    await client.start_io(*codegend("lsp", "--embedded", "--config", str(config)), env=env)
    try:
        await client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(), root_uri="file:///bench"))
        client.initialized(types.InitializedParams())
        uri = "file:///bench/startup.py"
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri, "python", 1, PROMPT)))
        lines = PROMPT.split("\n")
        while True:
            result = await client.text_document_inline_completion_async(
                _invoked(uri, len(lines) - 1, len(lines[-1])))
            items = result.items if isinstance(result, types.InlineCompletionList) else result
            if items:
                return time.perf_counter() - started
            await asyncio.sleep(0.05)
    finally:
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()


def complete_s(env: dict[str, str], source: str, directory: Path) -> float:
    target = directory / "startup.py"
    target.write_text(PROMPT)
    started = time.perf_counter()
    subprocess.run(codegend("complete", "--model", source, "--greedy", "--max-new-tokens", "8",
                            str(target)), env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def startup_rows(config: Path, env: dict[str, str], runtime: Path, source: str,
                 directory: Path, rounds: int) -> list[dict]:
    complete_s(env, source, directory)  # builds (or finds) the artifact: not timed
    runs: dict[str, list[float]] = {"codegend serve": [], "codegend lsp --embedded": [],
                                    "codegend complete": []}
    for _ in range(rounds):  # in turn, so other load on the machine falls on each alike
        runs["codegend serve"].append(serve_ready_s(config, env, runtime))
        runs["codegend lsp --embedded"].append(asyncio.run(embedded_ready_s(config, env)))
        runs["codegend complete"].append(complete_s(env, source, directory))
    return [{"what": what, "median_s": round(statistics.median(times), 2),
             "min_s": round(min(times), 2), "runs_s": [round(t, 2) for t in times]}
            for what, times in runs.items()]


class CountingProxy:
    """A TCP proxy to the daemon that counts the HTTP request lines clients send through."""

    def __init__(self, target_port: int, own_port: int) -> None:
        self.target_port = target_port
        self.trips: dict[str, int] = {}
        self.server: asyncio.Server | None = None
        # The daemon answers only Host headers that name its own port (DNS-rebinding guard).
        self._host = re.compile(rb"(?i)host: 127\.0\.0\.1:%d\r\n" % own_port)
        self._daemon_host = b"host: 127.0.0.1:%d\r\n" % target_port

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self.target_port)

        async def pipe(source, sink, count: bool) -> None:
            try:
                while data := await source.read(65536):
                    if count:
                        for match in TRIP.finditer(data):
                            route = match.group(2).decode()
                            self.trips[route] = self.trips.get(route, 0) + 1
                        data = self._host.sub(self._daemon_host, data)
                    sink.write(data)
                    await sink.drain()
            except ConnectionError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, upstream_writer, True),
                             pipe(upstream_reader, writer, False))


async def trips_per_completion(daemon_config: Path, lsp_config: Path, daemon_port: int,
                               proxy_port_file: Path, env: dict[str, str],
                               lsp_env: dict[str, str], completions: int) -> dict:
    """Start the daemon on ``daemon_port``, the proxy on the port ``lsp_config`` names (its
    server.port, written by the caller into ``proxy_port_file``), then a thin language server
    that finds the daemon through that port only."""
    proxy_port = int(proxy_port_file.read_text())
    proxy = CountingProxy(daemon_port, proxy_port)
    proxy.server = await asyncio.start_server(proxy._relay, "127.0.0.1", proxy_port)
    daemon = subprocess.Popen(codegend("serve", "--config", str(daemon_config)), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = LanguageClient("bench-trips", "1")
    messages: list[str] = []
    client.feature(types.WINDOW_SHOW_MESSAGE)(lambda params: messages.append(params.message))
    try:
        url = f"http://127.0.0.1:{daemon_port}"
        async with httpx.AsyncClient(trust_env=False) as http:
            while True:
                try:
                    if (await http.get(url + "/v1/health")).json()["status"] == "ok":
                        break
                except (httpx.TransportError, ValueError):
                    pass
                await asyncio.sleep(0.1)
        await client.start_io(*codegend("lsp", "--config", str(lsp_config)), env=lsp_env)
        await client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(), root_uri="file:///bench"))
        client.initialized(types.InitializedParams())
        answered = 0
        for n in range(completions):  # fresh documents: never answered from a cache
            uri = f"file:///bench/trips_{n}.py"
            text = f"value_{n} = compute(\n\nprint(value_{n})\n"
            client.text_document_did_open(types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri, "python", 1, text)))
            result = await client.text_document_inline_completion_async(
                _invoked(uri, 0, len(f"value_{n} = compute(")))
            items = result.items if isinstance(result, types.InlineCompletionList) else result
            answered += bool(items)
        trips = dict(proxy.trips)
        return {"completions": completions, "answered": answered, "trips": trips,
                "trips_per_completion": round(sum(trips.values()) / completions, 2),
                "messages": messages}
    finally:
        try:
            await client.shutdown_async(None)
            client.exit(None)
            await client.stop()
        finally:
            daemon.terminate()
            daemon.wait(60)
            proxy.server.close()


def _invoked(uri: str, line: int, character: int) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        text_document=types.TextDocumentIdentifier(uri),
        position=types.Position(line, character))


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def env_for(directory: Path, name: str) -> tuple[dict[str, str], Path]:
    runtime = directory / f"runtime-{name}"
    env = {**os.environ, "CODEGEND_RUNTIME_DIR": str(runtime),
           "XDG_STATE_HOME": str(directory / "state")}
    return env, runtime
