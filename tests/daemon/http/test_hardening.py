"""The HTTP server against slow, stalled, foreign and malformed clients, on 127.0.0.1.

Each limit is configured small here so the tests are quick; the bounds asserted on time are
generous (shared CI machines), the precise figures are bench/bench_hardening.py's.
"""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import httpx
import pytest

from codegend.daemon.config import load_config
from codegend.daemon.http.guards import allowed_host_values
from tests.daemon.conftest import serve_in_thread, two_model_yaml, write_config
from tests.daemon.http.http_fuzz import fuzz_requests, run_http_fuzz, send_raw

LIMITS = (", header_timeout_s: 1, body_timeout_s: 1, keep_alive_s: 1, max_connections: 16,"
          " max_tokens_limit: 8, max_body_bytes: 20000")


@pytest.fixture
def guarded(tmp_path: Path, parrots):
    yaml = two_model_yaml(parrots, extra_server=LIMITS, routes="  - {model: alpha}\n")
    with serve_in_thread(load_config(write_config(tmp_path / "c.yaml", yaml))) as url:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        yield host, int(port)


def get(host: str, port: int, host_header: str, extra: str = "") -> int | None:
    data = (f"GET /v1/health HTTP/1.1\r\nHost: {host_header}\r\n{extra}"
            "Connection: close\r\n\r\n").encode()
    return send_raw(host, port, data, 10).status


def closed_by_server(sock: socket.socket, within_s: float) -> bool:
    """Whether the server closes ``sock`` within ``within_s`` (what it sends is read)."""
    deadline = time.monotonic() + within_s
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            return False
        except OSError:
            return True  # reset: closed too
    return False


def test_only_loopback_names_with_the_port_are_answered(guarded) -> None:
    host, port = guarded
    assert get(host, port, f"127.0.0.1:{port}") == 200
    assert get(host, port, f"localhost:{port}") == 200
    assert get(host, port, f"LOCALHOST:{port}") == 200
    assert get(host, port, f"[::1]:{port}") == 200
    # A page whose name was pointed at 127.0.0.1 (DNS rebinding) sends its own name.
    assert get(host, port, f"attacker.example:{port}") == 421
    assert get(host, port, "attacker.example") == 421
    assert get(host, port, f"127.0.0.1:{port + 1}") == 421
    # Cross-site requests from pages are refused, and nothing grants CORS.
    assert get(host, port, f"127.0.0.1:{port}", "Origin: http://evil.example\r\n") == 403
    assert get(host, port, f"127.0.0.1:{port}", f"Origin: http://localhost:{port}\r\n") == 200
    preflight = httpx.options(f"http://{host}:{port}/v1/completions", headers={
        "Origin": f"http://127.0.0.1:{port}", "Access-Control-Request-Method": "POST"})
    assert not any(h.lower().startswith("access-control-") for h in preflight.headers)


def test_allowed_hosts_for_public_binds() -> None:
    assert allowed_host_values("0.0.0.0", 7878, False, ()) is None  # the token protects it
    assert allowed_host_values("0.0.0.0", 7878, False, ["Codegend.lan:7878"]) == {
        "codegend.lan:7878"}
    assert allowed_host_values("127.0.0.1", 7878, True, ["*"]) is None
    assert "[::1]:7878" in allowed_host_values("::1", 7878, True, ())


def test_stalled_headers_are_cut_and_health_answers_meanwhile(guarded) -> None:
    host, port = guarded
    stalled = []
    for _ in range(40):  # more than max_connections (16)
        sock = socket.create_connection((host, port), timeout=5)
        sock.sendall(f"GET /v1/health HTTP/1.1\r\nHost: {host}:{port}\r\n".encode())
        stalled.append(sock)
    try:
        started = time.monotonic()
        assert get(host, port, f"{host}:{port}") == 200
        assert time.monotonic() - started < 10
        # header_timeout_s is 1: every stalled connection is closed soon after.
        assert all(closed_by_server(sock, 10) for sock in stalled)
    finally:
        for sock in stalled:
            sock.close()
    assert get(host, port, f"{host}:{port}") == 200


def test_a_body_that_never_arrives_gets_408_and_the_connection_closes(guarded) -> None:
    host, port = guarded
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(f"POST /v1/codegend/complete HTTP/1.1\r\nHost: {host}:{port}\r\n"
                     "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                     '{"prefix": '.encode())
        started = time.monotonic()
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert time.monotonic() - started < 10
        assert closed_by_server(sock, 10)


def test_an_idle_keep_alive_connection_is_closed(guarded) -> None:
    host, port = guarded
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(f"GET /v1/health HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        assert sock.recv(12).startswith(b"HTTP/1.1 200")
        assert closed_by_server(sock, 10)  # keep_alive_s is 1


def test_the_token_is_checked_before_the_body_is_read(tmp_path: Path, parrots) -> None:
    yaml = two_model_yaml(parrots, extra_server=", body_timeout_s: 30")
    with serve_in_thread(load_config(write_config(tmp_path / "c.yaml", yaml)),
                         token="s3cret") as url:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(f"POST /v1/completions HTTP/1.1\r\nHost: {host}:{port}\r\n"
                         "Content-Length: 900000\r\n\r\n".encode())
            started = time.monotonic()
            answer = sock.recv(4096)
            assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
            assert time.monotonic() - started < 10  # not after the 30 s body timeout
            assert b"connection: close" in answer.lower()


def test_fuzzed_raw_requests_get_no_5xx_no_hang_and_no_traceback(guarded, caplog) -> None:
    host, port = guarded
    caplog.set_level(logging.WARNING)
    requests = fuzz_requests(seed=20261128, count=300, host=f"{host}:{port}")
    report = run_http_fuzz(host, port, requests, workers=8, hang_s=8)
    assert report.server_errors == [], report.as_json()
    assert report.hangs == [], report.as_json()
    assert get(host, port, f"{host}:{port}") == 200
    tracebacks = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert tracebacks == [], [r.getMessage() for r in tracebacks][:5]
