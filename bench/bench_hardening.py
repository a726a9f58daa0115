"""Hardening benchmark: what a hostile client, a huge file or a lost daemon does to codegend.

Measures the targets of the hardening issue against real processes (``codegend lsp`` and
``codegend serve`` on the default model, on 127.0.0.1 only):

- ``long-line``: a 5 MB single-line document (and a 5 MB multi-line one): latency of a
  completion in it and, at the same time, in a small document; pop-ups shown.
- ``lsp-fuzz``: N seeded malformed LSP messages (tests/lsp/lsp_fuzz.py): hangs over 10 s,
  crashes, tracebacks, pop-ups.
- ``lifecycle``: ``shutdown`` and ``exit`` in each state (before ``initialize``, while the model
  loads, ready): time to answer, time to exit, exit status (LSP: 0 after shutdown, else 1),
  aborts; and whether a request after ``shutdown`` is answered.
- ``http-fuzz``: N seeded raw HTTP requests (tests/daemon/http/http_fuzz.py): 5xx, hangs,
  tracebacks in the daemon's log, daemon alive.
- ``stall``: 1,100 connections that never finish their headers (daemon under the usual
  1,024 open-file limit): ``/v1/health`` answered during the stall, and the log's growth.
- ``host``: a foreign ``Host`` and a cross-site ``Origin``, next to the loopback names.
- ``kill9``: the editor's server on the shared daemon, the daemon killed with SIGKILL: time
  until completions come back, status changes and pop-ups meanwhile.

    python bench/bench_hardening.py [--only NAME ...] [--lsp-messages 10000]
        [--http-requests 2000] [--label after]

Writes bench/results/hardening-LABEL.json. Run by hand (minutes), not in CI. To measure an
older commit, put a checkout of it first on PYTHONPATH (the servers inherit it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.daemon.http.http_fuzz import fuzz_requests, run_http_fuzz, send_raw  # noqa: E402
from tests.lsp.lsp_fuzz import fuzz_stream, run_fuzz  # noqa: E402
from tests.lsp.raw_client import RawLspClient  # noqa: E402

FIVE_MB = 5 * 1024 * 1024
LSP = [sys.executable, "-m", "codegend", "lsp"]


def inline(uri: str, line: int, character: int, invoked: bool = True) -> dict:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character},
            "context": {"triggerKind": 1 if invoked else 2}}


def did_open(uri: str, text: str, language: str = "python") -> dict:
    return {"textDocument": {"uri": uri, "languageId": language, "version": 1, "text": text}}


async def ready_server(work: Path, name: str, args: list[str] | None = None,
                       env: dict | None = None) -> RawLspClient:
    client = await RawLspClient.start(LSP + (args or ["--embedded"]), env=env or server_env(work),
                                      stderr_path=work / f"{name}.stderr")
    await client.initialize({"debounceMs": 0})
    await client.wait_for_status("ready", timeout=180)
    return client


def server_env(work: Path) -> dict[str, str]:
    return {"XDG_STATE_HOME": str(work / "state"), "CODEGEND_RUNTIME_DIR": str(work / "run"),
            "HF_HUB_OFFLINE": "1"}


async def timed_request(client: RawLspClient, method: str, params: dict,
                        timeout: float = 120.0) -> tuple[float, dict | None]:
    started = time.monotonic()
    try:
        answer = await client.request(method, params, timeout)
    except TimeoutError:
        answer = None
    return time.monotonic() - started, answer


def items_of(answer: dict | None) -> int:
    result = (answer or {}).get("result") or {}
    return len(result.get("items", [])) if isinstance(result, dict) else len(result)


async def bench_long_line(work: Path) -> dict:
    client = await ready_server(work, "long-line")
    try:
        small, big, multi = ("file:///p/small.py", "file:///p/min.js", "file:///p/multi.js")
        await client.notify("textDocument/didOpen", did_open(small, "total = "))
        await timed_request(client, "textDocument/inlineCompletion", inline(small, 0, 8))
        line = "var a=function(b){return b+1};" * (FIVE_MB // 30)
        started = time.monotonic()
        await client.notify("textDocument/didOpen", did_open(big, line, "javascript"))
        big_task = asyncio.ensure_future(timed_request(
            client, "textDocument/inlineCompletion", inline(big, 0, len(line))))
        await asyncio.sleep(0.05)
        small_s, small_answer = await timed_request(
            client, "textDocument/inlineCompletion", inline(small, 0, 8))
        big_s, big_answer = await big_task
        open_to_answer = time.monotonic() - started
        change = {"textDocument": {"uri": big, "version": 2}, "contentChanges": [{"range": {
            "start": {"line": 0, "character": len(line)},
            "end": {"line": 0, "character": len(line)}}, "text": "x"}]}
        started = time.monotonic()
        await client.notify("textDocument/didChange", change)
        typed_s, _ = await timed_request(
            client, "textDocument/inlineCompletion", inline(big, 0, len(line) + 1, False))
        typed_s = time.monotonic() - started
        under = "file:///p/under.js"
        short = "var a=function(b){return b+1};" * (900_000 // 30)  # under the size limit
        await client.notify("textDocument/didOpen", did_open(under, short, "javascript"))
        under_s, under_answer = await timed_request(
            client, "textDocument/inlineCompletion", inline(under, 0, len(short)))
        text = "value = compute(1) + offset  # keep going\n" * (FIVE_MB // 42)
        await client.notify("textDocument/didOpen", did_open(multi, text, "javascript"))
        multi_s, _ = await timed_request(client, "textDocument/inlineCompletion",
                                         inline(multi, text.count("\n") // 2, 8))
        return {"single_line_bytes": len(line), "big_doc_request_s": round(big_s, 3),
                "big_doc_items": items_of(big_answer),
                "small_doc_request_during_big_s": round(small_s, 3),
                "small_doc_items": items_of(small_answer),
                "open_to_both_answered_s": round(open_to_answer, 3),
                "typing_in_big_doc_s": round(typed_s, 3),
                "multi_line_5mb_request_s": round(multi_s, 3),
                "900kb_line_request_s": round(under_s, 3),
                "900kb_line_items": items_of(under_answer),
                "popups": client.popups(), "log_messages": [
                    n["params"]["message"] for n in client.notifications
                    if n["method"] == "window/logMessage"][:5]}
    finally:
        await client.kill()


async def bench_lsp_fuzz(work: Path, count: int) -> dict:
    client = await ready_server(work, "lsp-fuzz")
    try:
        report = await run_fuzz(client, fuzz_stream(20261128, count))
        alive = client.process.returncode is None
        after_s, after = (await timed_request(client, "codegend/stats", {}, 15)) if alive \
            else (None, None)
        return {**report.as_json(), "answers_after_fuzz": after is not None,
                "answer_after_fuzz_s": round(after_s, 3) if after_s else None,
                "aborts": int(report.exit_status == -signal.SIGABRT)}
    finally:
        await client.kill()


async def lifecycle_run(work: Path, state: str, with_shutdown: bool) -> dict:
    client = await RawLspClient.start(LSP + ["--embedded"], env=server_env(work),
                                      stderr_path=work / f"life-{state}.stderr")
    try:
        if state == "uninitialized":  # once it reads (Python's start is not the server's)
            await client.request("codegend/stats", None, 60)
        else:
            await client.initialize({"debounceMs": 0})
            if state == "ready":
                await client.wait_for_status("ready", timeout=180)
            else:
                await client.wait_for_status("loading", timeout=30)
                await asyncio.sleep(0.3)  # well inside the load
        row: dict = {"state": state, "shutdown": with_shutdown}
        if state == "loading":
            row["loading_when_asked"] = client.statuses()[-1].get("state") == "loading"
        accepted = False
        if with_shutdown:
            shutdown_s, answer = await timed_request(client, "shutdown", None, 30)
            row["shutdown_answer_s"] = round(shutdown_s, 3) if answer else None
            # LSP: before initialize, shutdown too is refused (ServerNotInitialized).
            accepted = bool(answer) and "result" in answer
            row["shutdown_accepted"] = accepted
            after_s, after = await timed_request(client, "codegend/stats", {}, 5)
            row["request_after_shutdown"] = (after or {}).get("error", {}).get("code") \
                if after else "unanswered"
        started = time.monotonic()
        await client.notify("exit")
        status = await client.wait_exit(30)
        row["exit_s"] = round(time.monotonic() - started, 3) if status is not None else None
        row["exit_status"] = status
        row["expected_status"] = 0 if accepted else 1
        row["aborted"] = status == -signal.SIGABRT or "FATAL" in client.stderr_text()
        row["tracebacks"] = client.stderr_text().count("Traceback (most recent call last)")
        return row
    finally:
        await client.kill()


async def bench_lifecycle(work: Path, repeats: int) -> dict:
    rows = []
    for state in ("uninitialized", "loading", "ready"):
        for with_shutdown in (True, False):
            for _ in range(repeats if state == "loading" else 1):
                rows.append(await lifecycle_run(work, state, with_shutdown))
    return {"runs": rows,
            "max_shutdown_answer_s": max((r.get("shutdown_answer_s") or 99) for r in rows
                                         if r["shutdown"]),
            "max_exit_s": max((r["exit_s"] or 99) for r in rows),
            "aborts": sum(r["aborted"] for r in rows),
            "wrong_exit_status": sum(r["exit_status"] != r["expected_status"] for r in rows)}


@contextlib.contextmanager
def daemon(work: Path, name: str, nofile: int | None = None, server: str = ""):
    config = work / f"{name}.yaml"
    config.write_text(f"server: {{host: 127.0.0.1, port: 0{server}}}\n"
                      "models:\n  - {name: default, source: 'builtin:tiny-py'}\n"
                      "routes:\n  - {model: default}\n")
    runtime = work / f"run-{name}"
    runtime.mkdir()
    log = work / f"{name}.log"

    def limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "codegend", "serve", "--config", str(config)],
            stdout=out, stderr=subprocess.STDOUT, preexec_fn=limit,
            env={**os.environ, "CODEGEND_RUNTIME_DIR": str(runtime)})
    try:
        url = wait_for_daemon(runtime / "daemon.json", process)
        host, port = url.removeprefix("http://").rsplit(":", 1)
        yield host, int(port), process, log
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for_daemon(runtime_file: Path, process: subprocess.Popen) -> str:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the daemon exited with {process.returncode}"
        with contextlib.suppress(OSError, ValueError, KeyError):
            url = json.loads(runtime_file.read_text())["url"]
            host, port = url.removeprefix("http://").rsplit(":", 1)
            if models_ready(host, int(port)):
                return url
        time.sleep(0.2)
    raise TimeoutError("the daemon did not become ready")


def health_request(host_header: str) -> bytes:
    return f"GET /v1/health HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\n\r\n".encode()


def models_ready(host: str, port: int) -> bool:
    import httpx

    with contextlib.suppress(httpx.HTTPError, ValueError):
        return httpx.get(f"http://{host}:{port}/v1/health", timeout=5).json()["status"] == "ok"
    return False


def bench_http_fuzz(work: Path, count: int) -> dict:
    with daemon(work, "http-fuzz") as (host, port, process, log):
        report = run_http_fuzz(host, port, fuzz_requests(20261128, count, f"{host}:{port}"))
        alive = process.poll() is None
        healthy = alive and models_ready(host, port)
        text = log.read_text(errors="replace")
    return {**report.as_json(), "daemon_alive": alive, "healthy_after": healthy,
            "tracebacks": text.count("Traceback (most recent call last)")}


def bench_stall(work: Path, connections: int, hold_s: float) -> dict:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    with daemon(work, "stall", nofile=1024) as (host, port, process, log):
        before = log.stat().st_size
        held: list[socket.socket] = []
        opened_at = time.monotonic()
        for _ in range(connections):
            try:
                sock = socket.create_connection((host, port), timeout=2)
                sock.sendall(f"GET /v1/health HTTP/1.1\r\nHost: {host}:{port}\r\n".encode())
                held.append(sock)
            except OSError:
                break
        probes = []
        while time.monotonic() - opened_at < hold_s:
            answer = send_raw(host, port, health_request(f"{host}:{port}"), 5)
            probes.append((answer.status, answer.seconds))
            time.sleep(0.5)
        still_open = 0
        for sock in held:
            sock.setblocking(False)
            try:
                still_open += sock.recv(1) != b""
            except BlockingIOError:
                still_open += 1
            except OSError:
                pass
            sock.close()
        grown = log.stat().st_size - before
        lines = log.read_text(errors="replace").count("\n")
        alive = process.poll() is None
    ok = [s for status, s in probes if status == 200]
    return {"connections_opened": len(held), "hold_s": hold_s,
            "health_probes": len(probes), "health_ok": len(ok),
            "health_max_s": round(max(ok), 3) if ok else None,
            "stalled_still_open_at_end": still_open, "log_growth_bytes": grown,
            "log_lines": lines, "daemon_alive": alive}


def bench_host(work: Path) -> dict:
    with daemon(work, "host") as (host, port, _process, _log):
        def status(host_header: str, extra: str = "") -> int | None:
            data = (f"GET /v1/health HTTP/1.1\r\nHost: {host_header}\r\n{extra}"
                    "Connection: close\r\n\r\n").encode()
            return send_raw(host, port, data, 5).status

        return {"127.0.0.1": status(f"{host}:{port}"), "localhost": status(f"localhost:{port}"),
                "[::1]": status(f"[::1]:{port}"), "foreign": status(f"evil.example:{port}"),
                "rebound_name_no_port": status("attacker.example"),
                "cross_site_origin": status(f"{host}:{port}", "Origin: http://evil.example\r\n")}


async def bench_kill9(work: Path, wait_s: float) -> dict:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = work / "kill9.yaml"
    config.write_text(f"server: {{host: 127.0.0.1, port: {port}}}\n"
                      "models:\n  - {name: default, source: 'builtin:tiny-py'}\n"
                      "routes:\n  - {model: default}\n")
    env = {**server_env(work), "CODEGEND_RUNTIME_DIR": str(work / "run-kill9")}
    client = await ready_server(work, "kill9", ["--config", str(config)], env)
    runtime = work / "run-kill9" / "daemon.json"
    try:
        uri = "file:///p/k.py"
        await client.notify("textDocument/didOpen", did_open(uri, "total = "))
        _, first = await timed_request(client, "textDocument/inlineCompletion", inline(uri, 0, 8))
        pid = json.loads(runtime.read_text())["pid"]
        statuses_before, popups_before = len(client.statuses()), len(client.popups())
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        back_s, empty_answers, slowest = None, 0, 0.0
        for version in itertools.count(2):
            if time.monotonic() - killed > wait_s:
                break
            text = f"total_{version} = "  # a new text each time: no answer from the cache
            await client.notify("textDocument/didChange", {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"text": text}]})
            took, answer = await timed_request(
                client, "textDocument/inlineCompletion", inline(uri, 0, len(text)), 60)
            slowest = max(slowest, took)
            if items_of(answer):
                back_s = time.monotonic() - killed
                break
            empty_answers += 1
            await asyncio.sleep(0.2)
        changes = client.statuses()[statuses_before:]
        return {"first_answer_items": items_of(first), "back_after_s": round(back_s, 3)
                if back_s else None, "empty_answers_meanwhile": empty_answers,
                "slowest_request_s": round(slowest, 3),
                "status_changes": [s.get("state") for s in changes],
                "popups": client.popups()[popups_before:]}
    finally:
        await client.kill()
        with contextlib.suppress(OSError, ValueError, KeyError):
            os.kill(json.loads(runtime.read_text())["pid"], signal.SIGTERM)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = ["long-line", "lsp-fuzz", "lifecycle", "http-fuzz", "stall", "host", "kill9"]
    parser.add_argument("--only", nargs="*", choices=names, default=names)
    parser.add_argument("--lsp-messages", type=int, default=10_000)
    parser.add_argument("--http-requests", type=int, default=2_000)
    parser.add_argument("--stall-connections", type=int, default=1_100)
    parser.add_argument("--stall-seconds", type=float, default=20.0)
    parser.add_argument("--loading-repeats", type=int, default=5)
    parser.add_argument("--label", default="after")
    args = parser.parse_args()
    results: dict = {"label": args.label, "pythonpath": os.environ.get("PYTHONPATH", "")}
    with tempfile.TemporaryDirectory(prefix="bench-hardening-") as tmp:
        work = Path(tmp)
        for name in args.only:
            print(f"== {name}", flush=True)
            started = time.monotonic()
            if name == "long-line":
                result = await bench_long_line(work)
            elif name == "lsp-fuzz":
                result = await bench_lsp_fuzz(work, args.lsp_messages)
            elif name == "lifecycle":
                result = await bench_lifecycle(work, args.loading_repeats)
            elif name == "http-fuzz":
                result = await asyncio.to_thread(bench_http_fuzz, work, args.http_requests)
            elif name == "stall":
                result = await asyncio.to_thread(bench_stall, work, args.stall_connections,
                                                 args.stall_seconds)
            elif name == "host":
                result = await asyncio.to_thread(bench_host, work)
            else:
                result = await bench_kill9(work, 30.0)
            result["bench_s"] = round(time.monotonic() - started, 1)
            results[name] = result
            print(json.dumps(result, indent=1, ensure_ascii=False)[:3000], flush=True)
    out = ROOT / "bench" / "results" / f"hardening-{args.label}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    print(f"wrote {out}")


if __name__ == "__main__":
    asyncio.run(main())
