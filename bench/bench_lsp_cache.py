"""LSP cache and latency benchmark: typing through `codegend lsp`, timed per request.

A real LSP client (pygls') starts `codegend lsp --embedded` on stdio, opens the first lines
of a Python file, then types the rest character by character at a steady speed, sending an
automatic inline completion request after each keystroke as an editor does. It reports:

- latency percentiles of all requests, of those answered from the completion cache and of
  those answered by the model;
- the share of requests answered from the cache, by the model, skipped by the trigger
  rules, cancelled (superseded by the next keystroke) or left empty (the server's own
  counters, read through `codegend/stats`);
- engine tokens generated per character typed along a suggestion (a typed character that
  is the next character of the suggestion on screen).

``--type-suggestions`` makes the typist type out each suggestion as it appears (then go on
with the file): that exercises the completion cache, which answers while a suggestion is
typed along. It measures the cache, not acceptance: whatever was suggested is typed, right or
wrong. How much of what is shown a user would keep is measured by bench/bench_replay.py.

Target: requests answered from the cache under 5 ms at p50.

    python bench/bench_lsp_cache.py [--file PATH] [--chars 300] [--cps 10]
        [--config YAML | --source builtin:tiny-py | --tiny-random] [--debounce-ms 75]
        [--line-pause-ms 600] [--type-suggestions]

Prints a table and writes bench/results/lsp_cache.json. Run by hand, not in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_FILE = ROOT / "lsp" / "pipeline" / "prompt.py"
CACHE_TARGET_MS = 5.0


@dataclass
class Typist:
    """Types the file; with ``accept``, also types out each suggestion as soon as it shows
    (a user taking every suggestion by typing it, which the completion cache must serve)."""

    to_type: deque[tuple[str, bool]]  # (character, whether it comes from a suggestion)
    accept: bool
    latencies: dict[str, list[float]] = field(
        default_factory=lambda: {"all": [], "cache": [], "model": [], "empty": []}
    )
    keystrokes: int = 0
    typed_along: int = 0  # typed characters that were the next of the suggestion shown
    on_screen: str = ""  # what is left of the suggestion shown at the cursor
    errors: int = 0
    last_from_file: bool = True  # the last keystroke typed the file, not a suggestion

    def typed(self, ch: str, from_suggestion: bool) -> None:
        self.keystrokes += 1
        self.last_from_file = not from_suggestion
        if self.on_screen.startswith(ch):
            self.typed_along += 1
            self.on_screen = self.on_screen[1:]
        else:
            self.on_screen = ""

    def answered(self, keystroke: int, text: str, source: str, elapsed_ms: float) -> None:
        """The answer to the request sent after keystroke number ``keystroke``."""
        self.latencies["all"].append(elapsed_ms)
        self.latencies[source].append(elapsed_ms)
        if not text or keystroke != self.keystrokes:
            return  # nothing to show, or the cursor has moved on since it was asked
        self.on_screen = text
        if self.accept and self.last_from_file:  # one suggestion at a time, then the file
            self.to_type.extendleft((c, True) for c in reversed(text))


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"n": 0, "p50": None, "p90": None, "p95": None, "p99": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"n": len(values), "p50": round(statistics.median(ordered), 3), "p90": at(0.9),
            "p95": at(0.95), "p99": at(0.99)}


def capabilities() -> types.ClientCapabilities:
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(
            position_encodings=[types.PositionEncodingKind.Utf16]
        ),
        text_document=types.TextDocumentClientCapabilities(
            inline_completion=types.InlineCompletionClientCapabilities()
        ),
    )


def write_config(args: argparse.Namespace, directory: Path) -> Path:
    if args.config:
        return Path(args.config)
    source = args.source
    backend = args.backend
    if args.tiny_random:
        from tests.tiny_models import build_tiny_codegen

        source = str(build_tiny_codegen(directory / "tiny", n_positions=1024))
        backend = "torch"
    config = directory / "config.yaml"
    config.write_text(
        f"models:\n  - name: bench\n    source: {json.dumps(source)}\n"
        f"    backend: {backend}\n    max_new_tokens: {args.max_new_tokens}\n"
        "routes:\n  - {model: bench}\n"
    )
    return config


async def wait_ready(statuses: list[Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [getattr(s, "state", None) for s in statuses]
        if "ready" in states:
            return
        if "failed" in states:
            raise SystemExit(f"the server failed to load its model: {statuses[-1]}")
        await asyncio.sleep(0.1)
    raise SystemExit(f"the server was not ready within {timeout}s")


def _change(uri: str, version: int, line: int, character: int, text: str):
    at = types.Position(line=line, character=character)
    return types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[
            types.TextDocumentContentChangePartial(range=types.Range(start=at, end=at), text=text)
        ],
    )


def _answer_text(answer: Any) -> tuple[str, str]:
    """(suggestion text, "cache" | "model" | "empty") of an inline completion answer."""
    items = list(answer.items) if answer is not None else []
    if not items:
        return "", "empty"
    item = items[0]
    details = item.command.arguments[0] if item.command and item.command.arguments else {}
    source = details.get("source") if isinstance(details, dict) else getattr(details, "source", "")
    text = item.insert_text if isinstance(item.insert_text, str) else item.insert_text.value
    return text, "cache" if source == "cache" else "model"


async def replay(args: argparse.Namespace, config: Path, state_dir: Path) -> dict[str, Any]:
    source = Path(args.file).read_text(encoding="utf-8")
    lines = source.splitlines(True)
    opened = "".join(lines[: args.start_line])
    text = "".join(lines[args.start_line :])[: args.chars]
    typist = Typist(deque((c, False) for c in text), accept=args.type_suggestions)

    client = LanguageClient("bench-lsp-cache", "1")
    statuses: list[Any] = []

    def record_status(params: Any) -> None:
        statuses.append(params)

    client.feature("codegend/status")(record_status)
    env = {**os.environ, "XDG_STATE_HOME": str(state_dir)}
    command = [sys.executable, "-m", "codegend", "lsp", "--embedded", "--config", str(config)]
    await client.start_io(*command, env=env)
    await client.initialize_async(
        types.InitializeParams(
            capabilities=capabilities(),
            initialization_options={"debounceMs": args.debounce_ms},
        )
    )
    client.initialized(types.InitializedParams())
    await wait_ready(statuses, args.ready_timeout)

    uri = "file:///bench/typing.py"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=opened
            )
        )
    )
    line, character, version = opened.count("\n"), 0, 1
    pending: list[asyncio.Future] = []
    interval = 1.0 / args.cps if args.cps > 0 else 0.0
    started = time.perf_counter()

    while typist.to_type and typist.keystrokes < args.max_keystrokes:
        ch, from_suggestion = typist.to_type.popleft()
        version += 1
        client.text_document_did_change(_change(uri, version, line, character, ch))
        typist.typed(ch, from_suggestion)
        if ch == "\n":
            line, character = line + 1, 0
        else:
            character += len(ch.encode("utf-16-le")) // 2
        params = types.InlineCompletionParams(
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Automatic
            ),
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
        )
        sent = time.perf_counter()
        future = asyncio.ensure_future(client.text_document_inline_completion_async(params))

        def done(fut: asyncio.Future, sent: float = sent, keystroke: int = typist.keystrokes):
            elapsed_ms = (time.perf_counter() - sent) * 1000
            if fut.cancelled() or fut.exception() is not None:
                typist.errors += 1
                return
            typist.answered(keystroke, *_answer_text(fut.result()), elapsed_ms)

        future.add_done_callback(done)
        pending.append(future)
        pause = interval + (args.line_pause_ms / 1000 if ch == "\n" else 0.0)
        if pause:
            await asyncio.sleep(pause)
        else:
            await future
        if not typist.to_type and any(not f.done() for f in pending):
            await asyncio.wait(pending, timeout=120)  # a last answer may bring more to type

    elapsed = time.perf_counter() - started
    stats = await client.protocol.send_request_async("codegend/stats", {})
    session = stats.session._asdict() if hasattr(stats.session, "_asdict") else stats["session"]
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()

    requests = max(1, session["requests"])
    shares = {
        key: round(session[key] / requests, 3)
        for key in ("answeredFromCache", "answeredByModel", "skippedByTrigger", "cancelled",
                    "empty", "unavailable")
    }
    tokens = session["generatedTokens"]
    return {
        "file": str(args.file),
        "keystrokes": typist.keystrokes,
        "type_suggestions": args.type_suggestions,
        "chars_per_second": args.cps,
        "line_pause_ms": args.line_pause_ms,
        "debounce_ms": args.debounce_ms,
        "wall_s": round(elapsed, 1),
        "latency_ms": {k: percentiles(v) for k, v in typist.latencies.items()},
        "shares": shares,
        "server_counters": session,
        "typed_along_chars": typist.typed_along,
        "engine_tokens": tokens,
        "engine_tokens_per_typed_along_char": (
            round(tokens / typist.typed_along, 2) if typist.typed_along else None
        ),
        "client_errors": typist.errors,
    }


def print_report(report: dict[str, Any]) -> None:
    mode = ", typing out every suggestion" if report["type_suggestions"] else ""
    print(f"{report['keystrokes']} keystrokes on {report['file']} at "
          f"{report['chars_per_second']}/s (+{report['line_pause_ms']} ms per line), "
          f"debounce {report['debounce_ms']} ms{mode}, {report['wall_s']} s")
    print(f"{'latency (ms)':<14}{'n':>6}{'p50':>10}{'p90':>10}{'p95':>10}{'p99':>10}")
    for kind, row in report["latency_ms"].items():
        cells = [f"{row[q]:>10.2f}" if row[q] is not None else f"{'-':>10}"
                 for q in ("p50", "p90", "p95", "p99")]
        print(f"{kind:<14}{row['n']:>6}" + "".join(cells))
    print("shares of requests: " + ", ".join(f"{k} {v:.1%}" for k, v in report["shares"].items()))
    print(f"chars typed along a suggestion {report['typed_along_chars']}, engine tokens "
          f"{report['engine_tokens']}, tokens per such char "
          f"{report['engine_tokens_per_typed_along_char']}")
    cache_p50 = report["latency_ms"]["cache"]["p50"]
    if cache_p50 is not None:
        verdict = "meets" if cache_p50 < CACHE_TARGET_MS else "MISSES"
        print(f"cache p50 {cache_p50:.2f} ms {verdict} the {CACHE_TARGET_MS} ms target")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default=str(DEFAULT_FILE), help="the Python file to type")
    parser.add_argument("--start-line", type=int, default=20,
                        help="lines already in the document when typing starts")
    parser.add_argument("--chars", type=int, default=300, help="characters to type")
    parser.add_argument("--cps", type=float, default=10.0,
                        help="typing speed in characters per second (0: wait for each answer)")
    parser.add_argument("--line-pause-ms", type=float, default=600.0,
                        help="extra pause after each newline, as a person reads back")
    parser.add_argument("--type-suggestions", action="store_true",
                        help="type out each suggestion as it shows before going on with the "
                             "file (exercises the cache; not an acceptance measure)")
    parser.add_argument("--max-keystrokes", type=int, default=600,
                        help="stop after this many keystrokes (suggestions typed out included)")
    parser.add_argument("--debounce-ms", type=int, default=75)
    parser.add_argument("--config", help="a daemon YAML config (overrides --source)")
    parser.add_argument("--source", default="builtin:tiny-py", help="the model source")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--tiny-random", action="store_true",
                        help="a tiny random CodeGen built on the spot (no trained model needed)")
    parser.add_argument("--ready-timeout", type=float, default=600.0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "lsp_cache.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-lsp-") as scratch:
        config = write_config(args, Path(scratch))
        report = asyncio.run(replay(args, config, Path(scratch) / "state"))
    print_report(report)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
