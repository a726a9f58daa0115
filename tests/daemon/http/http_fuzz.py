"""Seeded fuzzing of the daemon's HTTP server with raw, often malformed requests.

Schemathesis (``test_fuzz.py``) fuzzes the API inside valid HTTP; this fuzzes the HTTP
itself and the edges around the API: broken request lines and headers, lying or absurd
Content-Length, truncated and chunked bodies, smuggling attempts, foreign Host and Origin
headers, bodies with lone surrogates, invalid UTF-8 or deep nesting. Each request goes on
its own connection; the server must answer or close it within the hang bound, and never
with a 5xx. Used by the CI test (a few hundred requests) and bench/bench_hardening.py.
"""

from __future__ import annotations

import json
import random
import socket
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

HANG_S = 10.0
PATHS = ["/v1/codegend/complete", "/v1/completions", "/v1/codegend/tokenize",
         "/v1/codegend/model_info?language=python", "/v1/health", "/metrics", "/v1/models",
         "/openapi.json", "/nope", "/v1/../v1/health", "/%00", "/" + "a" * 9000]


@dataclass(frozen=True)
class RawRequest:
    data: bytes
    kind: str


@dataclass(frozen=True)
class RawAnswer:
    status: int | None  # None: the server closed without answering (or we gave up)
    seconds: float
    hung: bool  # neither answered nor closed within the bound


def _json_value(rng: random.Random, depth: int = 0) -> object:
    roll = rng.random()
    if depth > 3 or roll < 0.3:
        return rng.choice([0, -1, 2**70, 1.5, True, None, "", "x" * rng.randint(0, 50),
                           "\ud800", "é😀", "\x00"])
    if roll < 0.6:
        return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = ["prefix", "suffix", "language", "prompt", "max_tokens", "max_new_tokens", "stream",
            "model", "texts", "stop", "temperature", "top_p", "seed", "n", "echo", "mode"]
    return {rng.choice(keys): _json_value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def _body(rng: random.Random) -> bytes:
    choice = rng.random()
    if choice < 0.35:
        return json.dumps(_json_value(rng), ensure_ascii=True).encode()
    if choice < 0.55:  # a plausible completion, with a tiny budget
        body = {"prefix": "def f(" + "x" * rng.randint(0, 30), "language": "python",
                "max_new_tokens": rng.randint(0, 3), "stream": rng.random() < 0.5}
        return json.dumps(body).encode()
    if choice < 0.65:
        return json.dumps({"prompt": "import o", "max_tokens": 2,
                           "stream": rng.random() < 0.5}).encode()
    return rng.choice([b"", b"{", b"\xff\xfe", b'{"prefix": "\xed\xa0\x80"}',
                       b'{"prefix": "\\ud800"}', b"[" * 5000 + b"]" * 5000,
                       b'{"prefix": NaN}', b'{"prefix": 1e999}', b"null",
                       json.dumps({"prefix": "y" * 30_000}).encode()])


class _Generator:
    def __init__(self, seed: int, host: str) -> None:
        self.rng = random.Random(seed)
        self.host = host  # the Host header a legitimate client sends

    def request(self) -> RawRequest:
        rng = self.rng
        method = rng.choice(["POST"] * 5 + ["GET"] * 3 + ["PUT", "OPTIONS", "HEAD", "BREW"])
        path = rng.choice(PATHS)
        body = _body(rng) if method in ("POST", "PUT") else b""
        headers = [("Host", self.host), ("Content-Type", "application/json")]
        kind = "plain"
        roll = rng.random()
        if roll < 0.5:
            headers.append(("Content-Length", str(len(body))))
        elif roll < 0.58:
            headers.append(("Content-Length", str(len(body) + rng.randint(1, 50))))
            kind = "truncated body"
        elif roll < 0.62:
            headers.append(("Content-Length", rng.choice(["-1", "1e3", "99999999999999999999",
                                                          "12, 13", " "])))
            kind = "bad content-length"
        elif roll < 0.68:
            chunk = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
            body = chunk if rng.random() < 0.7 else chunk[: rng.randint(0, len(chunk))]
            headers.append(("Transfer-Encoding", "chunked"))
            kind = "chunked"
        elif roll < 0.71:
            headers += [("Content-Length", "4"), ("Transfer-Encoding", "chunked")]
            kind = "smuggling"
        elif roll < 0.75:
            headers = [(k, v) for k, v in headers if k != "Host"]
            headers.append(("Host", rng.choice(["evil.example:7878", "localhost.evil.com",
                                                "127.0.0.1:1", "[::1", "", "a b"])))
            headers.append(("Content-Length", str(len(body))))
            kind = "foreign host"
        elif roll < 0.78:
            headers = [(k, v) for k, v in headers if k != "Host"]
            headers.append(("Content-Length", str(len(body))))
            kind = "no host"
        elif roll < 0.81:
            headers += [("Origin", "http://evil.example"), ("Content-Length", str(len(body)))]
            kind = "cross origin"
        elif roll < 0.84:
            headers += [("X-Big", "h" * rng.choice([20_000, 70_000])),
                        ("Content-Length", str(len(body)))]
            kind = "huge header"
        elif roll < 0.87:
            headers += [("Bad\x00Name", "v"), ("Content-Length", str(len(body)))]
            kind = "invalid header"
        elif roll < 0.9:
            headers += [("Authorization", rng.choice(["Bearer x", "Basic Zm9v", "\xff"])),
                        ("Content-Length", str(len(body)))]
            kind = "authorization"
        elif roll < 0.93:
            headers += [("Expect", "100-continue"), ("Content-Length", str(len(body)))]
            kind = "expect"
        elif roll < 0.96:
            return RawRequest(rng.choice([
                b"GARBAGE\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
                b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                b"GET /v1/health HTTP/1.0\r\n\r\n", b"\r\n\r\n\r\n",
                bytes(rng.getrandbits(8) for _ in range(200)),
                f"GET /v1/health HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode() * 3,
            ]), "raw")
        else:
            headers += [("Connection", "Upgrade"), ("Upgrade", "websocket"),
                        ("Content-Length", str(len(body)))]
            kind = "upgrade"
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
        return RawRequest(head.encode("utf-8", "surrogateescape") + b"\r\n" + body, kind)


def fuzz_requests(seed: int, count: int, host: str) -> list[RawRequest]:
    generator = _Generator(seed, host)
    return [generator.request() for _ in range(count)]


def _first_response_complete(buffer: bytes, head_only: bool = False) -> tuple[int | None, bool]:
    """The first response's status, and whether all of it has arrived (``head_only``: the
    answer to a HEAD request, which has no body whatever its headers say)."""
    head, found, rest = buffer.partition(b"\r\n\r\n")
    if not found:
        return None, False
    lines = head.split(b"\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return None, True
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if status < 200 and status != 101:  # 100 Continue: the real answer follows
        return _first_response_complete(rest, head_only)
    if head_only or status in (204, 304):
        return status, True
    if b"content-length" in headers:
        return status, len(rest) >= int(headers[b"content-length"])
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        return status, b"0\r\n\r\n" in rest
    return status, False  # read until close


def send_raw(host: str, port: int, data: bytes, hang_s: float = HANG_S) -> RawAnswer:
    started = time.monotonic()
    buffer = b""
    head_only = data.startswith(b"HEAD ")
    try:
        with socket.create_connection((host, port), timeout=hang_s) as sock:
            try:
                sock.sendall(data)
            except OSError:
                pass  # the server may refuse before reading it all; read what it said
            while True:
                left = hang_s - (time.monotonic() - started)
                if left <= 0:
                    status, _ = _first_response_complete(buffer)
                    return RawAnswer(status, time.monotonic() - started, True)
                sock.settimeout(left)
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                buffer += chunk
                status, complete = _first_response_complete(buffer, head_only)
                if complete:
                    return RawAnswer(status, time.monotonic() - started, False)
    except OSError:
        pass
    status, _ = _first_response_complete(buffer)
    return RawAnswer(status, time.monotonic() - started, False)


@dataclass
class HttpFuzzReport:
    sent: int = 0
    statuses: Counter = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)  # kinds that got a 5xx
    hangs: list[str] = field(default_factory=list)  # kinds left hanging past the bound
    max_seconds: float = 0.0

    def as_json(self) -> dict:
        return {"sent": self.sent, "5xx": len(self.server_errors), "hangs": len(self.hangs),
                "max_answer_s": round(self.max_seconds, 3),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items(), key=str)},
                "5xx_kinds": dict(Counter(self.server_errors)),
                "hang_kinds": dict(Counter(self.hangs))}


def run_http_fuzz(host: str, port: int, requests: list[RawRequest], workers: int = 8,
                  hang_s: float = HANG_S) -> HttpFuzzReport:
    report = HttpFuzzReport()
    with ThreadPoolExecutor(workers) as pool:
        answers = pool.map(lambda r: send_raw(host, port, r.data, hang_s + 1), requests)
        for request, answer in zip(requests, answers, strict=True):
            report.sent += 1
            report.statuses[answer.status] += 1
            report.max_seconds = max(report.max_seconds, answer.seconds)
            if answer.status is not None and answer.status >= 500:
                report.server_errors.append(request.kind)
            if answer.hung or answer.seconds > hang_s:
                report.hangs.append(request.kind)
    return report
