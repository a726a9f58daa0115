"""Seeded fuzzing of ``codegend lsp``'s stdin: malformed and hostile LSP messages.

:func:`fuzz_stream` yields :class:`FuzzMessage` s: the bytes to write and, when the message
is a request the server must answer (well-formed, or malformed but carrying a valid id),
that id. Messages that break the framing itself (a wrong or absurd Content-Length, garbage
between messages, an endless header line) are followed by a harmless notification that the
server may lose while it finds the next header, so no request is sacrificed to them.

:func:`run_fuzz` drives a running server with them and returns what a hardened server must
keep at zero: requests unanswered within the hang bound, tracebacks in its log, crashes.
Used by the CI test (a few hundred messages) and bench/bench_hardening.py (10,000).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from tests.lsp.raw_client import RawLspClient, frame

HANG_S = 10.0  # an answer later than this is a hang
URIS = [f"file:///work/project/fuzz{i}.py" for i in range(4)] + [
    "file:///work/project/with%20space.py", "untitled:Untitled-1", "file:///w/\udcff.py"]
ALPHABET = ["a", "b", " ", "\n", "\r\n", "\r", "\t", "(", ")", ":", "=", "é", "中", "😀",
            "\x00", "\x0c", "\u2028", "\ud800", "\udfff", "\ufeff", "'", '"', "\\"]
METHODS = ["textDocument/inlineCompletion", "textDocument/completion", "codegend/stats",
           "codegend/models", "codegend/selectModel", "workspace/executeCommand",
           "textDocument/hover", "nonsense/method", "", "$/custom"]


@dataclass(frozen=True)
class FuzzMessage:
    data: bytes
    answer_id: int | str | None = None  # the server must answer this id
    kind: str = ""


def _text(rng: random.Random, longest: int = 200) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, longest)))


def _position(rng: random.Random) -> dict:
    big = rng.random() < 0.1
    return {"line": rng.choice([0, 1, 2, 5, 2**31 - 1, -1]) if big else rng.randint(0, 6),
            "character": rng.choice([2**31 - 1, -5, 10**6]) if big else rng.randint(0, 40)}


def _wire(message: object) -> bytes:
    # ensure_ascii keeps lone surrogates as \\udXXX escapes, as a JavaScript client sends them
    return json.dumps(message, ensure_ascii=True).encode()


def _framed(body: bytes, header: str = "Content-Length") -> bytes:
    return f"{header}: {len(body)}\r\n\r\n".encode() + body


class _Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.next_id = 10_000

    def request_id(self) -> int | str:
        self.next_id += 1
        return self.next_id if self.rng.random() < 0.8 else f"s{self.next_id}"

    def filler(self) -> FuzzMessage:
        return FuzzMessage(frame({"jsonrpc": "2.0", "method": "$/fuzz/filler",
                                  "params": {"pad": "x" * 64}}), None, "filler")

    def valid(self) -> FuzzMessage:
        rng = self.rng
        uri = rng.choice(URIS)
        choice = rng.random()
        if choice < 0.25:
            message = {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
                "textDocument": {"uri": uri, "languageId": rng.choice(["python", "js", ""]),
                                 "version": 1, "text": _text(rng)}}}
            return FuzzMessage(_framed(_wire(message)), None, "didOpen")
        if choice < 0.5:
            start, end = _position(rng), _position(rng)
            change = {"range": {"start": start, "end": end}, "text": _text(rng, 20)}
            if rng.random() < 0.2:
                change = {"text": _text(rng)}
            message = {"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
                "textDocument": {"uri": uri, "version": rng.randint(0, 9)},
                "contentChanges": [change]}}
            return FuzzMessage(_framed(_wire(message)), None, "didChange")
        request_id = self.request_id()
        method = rng.choice(METHODS)
        params: object = {"textDocument": {"uri": uri}, "position": _position(rng),
                          "context": {"triggerKind": rng.choice([1, 2])}}
        if method.startswith("codegend/"):
            params = rng.choice([{}, {"model": rng.choice([None, "nope", 3])}])
        elif method == "workspace/executeCommand":
            params = {"command": "codegend.accept", "arguments": [rng.choice([{}, "x", 5])]}
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        return FuzzMessage(_framed(_wire(message)), request_id, f"request {method}")

    def malformed_with_id(self) -> FuzzMessage:
        rng = self.rng
        request_id = self.request_id()
        shapes = [
            {"jsonrpc": "2.0", "id": request_id, "method": "textDocument/inlineCompletion",
             "params": rng.choice([5, "x", [], {"textDocument": 5}, None])},
            {"jsonrpc": "1.0", "id": request_id, "method": "codegend/stats"},
            {"id": request_id, "method": "codegend/stats"},
            {"jsonrpc": "2.0", "id": request_id, "method": rng.choice([5, None, [], {}])},
            {"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": {}},
            {"jsonrpc": "2.0", "id": request_id, "method": "codegend/selectModel",
             "params": {"model": "\ud800"}},
        ]
        return FuzzMessage(_framed(_wire(rng.choice(shapes))), request_id, "malformed with id")

    def unanswerable(self) -> FuzzMessage:
        """Malformed messages that carry no usable id: they must only cost a log line."""
        rng = self.rng
        bodies = [
            b"{", b"", b"null", b"42", b'"text"', b"[]", b"[1, 2]", b"{}", b"\xff\xfe\xfd",
            b'{"jsonrpc": "2.0", "id": 1.5, "method": "codegend/stats"}',
            b'{"jsonrpc": "2.0", "id": null, "method": "codegend/stats"}',
            b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "codegend/stats"}',
            b'{"jsonrpc": "2.0", "id": true, "method": "codegend/stats"}',
            b'{"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": 5}}',
            b'{"jsonrpc": "2.0", "method": "textDocument/didChange", "params": []}',
            b'{"jsonrpc": "2.0", "method": "textDocument/didClose", "params": {}}',
            b'{"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": "zz"}}',
            b'{"jsonrpc": "2.0", "result": 1, "id": 987654}',
            b'{"jsonrpc": "2.0", "id": 987655}',
            b'{"jsonrpc": "2.0", "error": {"code": 1, "message": "x"}, "id": 5}',
            b"[" * 100_000 + b"]" * 100_000,
            b'{"jsonrpc": "2.0", "method": "\xed\xa0\x80", "params": {}}',
            b'{"a": 1e999999, "b": -1e999999}',
            b'{"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": '
            b'{"uri": "file:///w/x.py", "languageId": "python", "version": 1, "text": "\xed\xb0'
            b'\x80 x = "}}}',
        ]
        return FuzzMessage(_framed(rng.choice(bodies)), None, "unanswerable")

    def header_variant(self) -> FuzzMessage:
        """A well-formed request framed with headers the protocol allows."""
        rng = self.rng
        request_id = self.request_id()
        body = _wire({"jsonrpc": "2.0", "id": request_id, "method": "codegend/stats"})
        name = rng.choice(["content-length", "CONTENT-LENGTH", "Content-length"])
        extra = rng.choice(["", "Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n",
                            "X-Unknown: 1\r\n"])
        first, second = (extra, "") if rng.random() < 0.5 else ("", extra)
        space = rng.choice([" ", "  ", ""])
        data = f"{first}{name}:{space}{len(body)}\r\n{second}\r\n".encode() + body
        return FuzzMessage(data, request_id, "header variant")

    def broken_framing(self) -> list[FuzzMessage]:
        rng = self.rng
        body = _wire({"jsonrpc": "2.0", "method": "$/fuzz/lost", "params": {"x": "y" * 20}})
        cases = [
            f"Content-Length: {len(body) - rng.randint(1, 3)}\r\n\r\n".encode() + body,
            f"Content-Length: {len(body) + rng.randint(1, 3)}\r\n\r\n".encode() + body,
            b"Content-Length: 1000000000000000\r\n\r\n" + body,
            b"Content-Length: 18446744073709551617\r\n\r\n" + body,
            b"Content-Length: -5\r\n\r\n" + body,
            b"Content-Length: abc\r\n\r\n" + body,
            b"\r\n\r\n" + body,
            bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300))),
            b"X" * rng.choice([70_000, 300_000]) + b"\r\n",
            b"Content-Length: 5\r\n" + b"Y" * 100_000 + b"\r\n\r\n12345",
        ]
        return [FuzzMessage(rng.choice(cases), None, "broken framing"), self.filler(),
                self.filler()]

    def messages(self, count: int) -> Iterator[FuzzMessage]:
        produced = 0
        kinds = [(0.45, self.valid), (0.2, self.malformed_with_id),
                 (0.15, self.unanswerable), (0.1, self.header_variant)]
        while produced < count:
            roll = self.rng.random()
            for weight, make in kinds:
                if roll < weight:
                    batch = [make()]
                    break
                roll -= weight
            else:
                batch = self.broken_framing()
            for message in batch:
                yield message
                produced += 1


def fuzz_stream(seed: int, count: int) -> list[FuzzMessage]:
    return list(_Generator(seed).messages(count))


@dataclass
class FuzzReport:
    sent: int = 0
    requests: int = 0
    unanswered: list[str] = field(default_factory=list)  # kinds of requests never answered
    slow: int = 0  # answered, but after HANG_S
    max_answer_s: float = 0.0
    exit_status: int | None = None  # None: still running (as it should)
    tracebacks: int = 0
    popups: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)

    @property
    def hangs(self) -> int:
        return len(self.unanswered) + self.slow

    def as_json(self) -> dict:
        return {"sent": self.sent, "requests_expecting_answer": self.requests,
                "unanswered": len(self.unanswered), "answered_after_hang_bound": self.slow,
                "hangs": self.hangs, "max_answer_s": round(self.max_answer_s, 3),
                "crashed": self.exit_status is not None, "exit_status": self.exit_status,
                "tracebacks": self.tracebacks, "popups": sum(self.popups.values()),
                "distinct_popups": len(self.popups),
                "max_popups_per_text": max(self.popups.values(), default=0),
                "unanswered_kinds": dict(Counter(self.unanswered))}


async def run_fuzz(client: RawLspClient, messages: list[FuzzMessage], *,
                   pace_every: int = 50, settle_s: float = HANG_S + 2) -> FuzzReport:
    """Send ``messages`` (yielding to the server every ``pace_every``), then wait up to
    ``settle_s`` for the last answers."""
    report = FuzzReport()
    sent_at: dict[object, tuple[float, str]] = {}
    for number, message in enumerate(messages, 1):
        if client.process.returncode is not None:
            break
        if message.answer_id is not None:
            sent_at[message.answer_id] = (time.monotonic(), message.kind)
        report.kinds[message.kind] += 1
        await client.send_bytes(message.data)
        report.sent += 1
        if number % pace_every == 0:
            await asyncio.sleep(0.01)
    report.requests = len(sent_at)
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline and client.process.returncode is None:
        if all(key in client.answers for key in sent_at):
            break
        await asyncio.sleep(0.05)
    for key, (started, kind) in sent_at.items():
        if key not in client.answers:
            report.unanswered.append(kind)
            continue
        took = client.answered_at[key] - started
        report.max_answer_s = max(report.max_answer_s, took)
        report.slow += took > HANG_S
    report.exit_status = client.process.returncode
    report.tracebacks = client.stderr_text().count("Traceback (most recent call last)")
    report.popups = Counter(client.popups())
    return report
