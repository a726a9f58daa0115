"""Types scripts into the real language server, as an editor does, and records what it shows.

A real LSP client (pygls') starts the server on stdio (``codegend lsp --embedded`` unless a
command is given), opens each stretch's document, and for every keystroke sends the edit
(``didChange``, an insertion or the step over an auto-closed closer) followed by an automatic
``textDocument/inlineCompletion`` request, then waits the typist's pause. An answer counts as
shown only if it arrived before the next keystroke: an editor drops it otherwise.

Once a stretch is typed, single-line infill is probed on some of its lines: the line's text
after its indentation is deleted, an explicit (Invoked) request asks for it with the rest of
the file after the cursor, and the line is put back. Exact match: the suggestion's first line
is the deleted text.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from bench.replay.typist import Script

SETTLE_S = 0.3  # after opening a document, as an editor's first paint would take


@dataclass(frozen=True)
class Answer:
    keystroke: int  # the request followed this keystroke
    text: str  # "" when nothing was suggested
    source: str  # model | cache | empty
    shown_id: str  # identifies the suggestion as first shown
    latency_ms: float  # from the request to its answer
    in_time: bool  # arrived before the next keystroke: the editor showed it


@dataclass(frozen=True)
class Infill:
    expected: str  # the line's text after its indentation
    suggested: str  # the first line of what the server suggested there

    @property
    def exact(self) -> bool:
        return self.suggested.rstrip() == self.expected.rstrip()


@dataclass(frozen=True)
class ScriptRun:
    script: Script
    answers: tuple[Answer, ...]
    errors: int  # requests that failed or were cancelled
    infill: tuple[Infill, ...] = ()


def _position(text: str, offset: int) -> types.Position:
    line_start = text.rfind("\n", 0, offset) + 1
    column = len(text[line_start:offset].encode("utf-16-le")) // 2
    return types.Position(line=text.count("\n", 0, offset), character=column)


def _capabilities() -> types.ClientCapabilities:
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(
            position_encodings=[types.PositionEncodingKind.Utf16]
        ),
        text_document=types.TextDocumentClientCapabilities(
            inline_completion=types.InlineCompletionClientCapabilities()
        ),
    )


def _read(answer: Any) -> tuple[str, str, str]:
    """(text, source, shown id) of an inline completion answer."""
    items = list(answer.items) if answer is not None else []
    if not items:
        return "", "empty", ""
    item = items[0]
    details = item.command.arguments[0] if item.command and item.command.arguments else {}
    text = item.insert_text if isinstance(item.insert_text, str) else item.insert_text.value
    return text, str(details.get("source", "model")), str(details.get("id", ""))


class Editor:
    """One language server session, driven like an editor window."""

    def __init__(self, command: Sequence[str], env: dict[str, str], debounce_ms: int) -> None:
        self.command = list(command)
        self.env = env
        self.debounce_ms = debounce_ms
        self.client = LanguageClient("codegend-replay", "1")
        self.statuses: list[Any] = []
        self._documents = 0

    async def start(self, ready_timeout_s: float) -> None:
        def status(params: Any) -> None:
            self.statuses.append(params)

        self.client.feature("codegend/status")(status)
        await self.client.start_io(*self.command, env=self.env)
        await self.client.initialize_async(types.InitializeParams(
            capabilities=_capabilities(),
            initialization_options={"debounceMs": self.debounce_ms},
        ))
        self.client.initialized(types.InitializedParams())
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            states = [getattr(s, "state", None) for s in self.statuses]
            if "ready" in states:
                return
            if "failed" in states:
                raise SystemExit(f"the server failed to load its model: {self.statuses[-1]}")
            await asyncio.sleep(0.1)
        raise SystemExit(f"the server was not ready within {ready_timeout_s} s")

    async def stats(self) -> dict[str, Any]:
        answer = await self.client.protocol.send_request_async("codegend/stats", {})
        session = answer.session
        return session._asdict() if hasattr(session, "_asdict") else dict(session)

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()

    def _edit(self, uri: str, version: int, text: str, start: int, end: int, new: str) -> None:
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=_position(text, start), end=_position(text, end)),
                text=new)]))

    async def probe_infill(
        self, uri: str, version: int, text: str, line_starts: list[int]
    ) -> list[Infill]:
        """Delete each line's text after its indentation, ask for it explicitly, put it back."""
        probes = []
        for start in line_starts:
            end = text.find("\n", start) % (len(text) + 1)
            line = text[start:end]
            indent = len(line) - len(line.lstrip())
            cursor = start + indent
            self._edit(uri, version, text, cursor, end, "")
            version += 1
            emptied = text[:cursor] + text[end:]
            answer = await self.client.text_document_inline_completion_async(
                types.InlineCompletionParams(
                    context=types.InlineCompletionContext(
                        trigger_kind=types.InlineCompletionTriggerKind.Invoked),
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=_position(emptied, cursor)))
            suggested = _read(answer)[0].split("\n")
            first = next((s for s in suggested if s.strip()), "")
            probes.append(Infill(line[indent:], first.strip() if suggested[0] == "" else first))
            self._edit(uri, version, emptied, cursor, cursor, line[indent:])
            version += 1
        return probes

    async def type_script(self, script: Script, infill_lines: int = 0) -> ScriptRun:
        self._documents += 1
        uri = f"file:///replay/{self._documents}/{script.stretch.path.name}"
        text = script.document(-1)
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id=script.stretch.language, version=1, text=text)))
        await asyncio.sleep(SETTLE_S)
        answers: list[Answer] = []
        sent_at: list[float] = []
        errors = 0
        pending: list[asyncio.Future] = []

        def record(future: asyncio.Future, k: int) -> None:
            nonlocal errors
            arrived = time.perf_counter()
            if future.cancelled() or future.exception() is not None:
                errors += 1
                return
            in_time = k + 1 >= len(sent_at) or arrived < sent_at[k + 1]
            answers.append(Answer(k, *_read(future.result()),
                                  (arrived - sent_at[k]) * 1000, in_time))

        for k, key in enumerate(script.keystrokes):
            start = _position(text, key.at)
            end = _position(text, key.at + key.removed)
            text = script.document(k)
            sent_at.append(time.perf_counter())
            self.client.text_document_did_change(types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=k + 2),
                content_changes=[types.TextDocumentContentChangePartial(
                    range=types.Range(start=start, end=end), text=key.inserted)]))
            future = asyncio.ensure_future(self.client.text_document_inline_completion_async(
                types.InlineCompletionParams(
                    context=types.InlineCompletionContext(
                        trigger_kind=types.InlineCompletionTriggerKind.Automatic),
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=_position(text, script.cursor(k)))))
            future.add_done_callback(lambda f, k=k: record(f, k))
            pending.append(future)
            if key.pause_s is None:
                await asyncio.wait([future])
            else:
                await asyncio.sleep(key.pause_s)
        await asyncio.wait(pending, timeout=60)
        infill = await self.probe_infill(uri, len(script.keystrokes) + 2, text,
                                         _probe_lines(script, infill_lines))
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        answers.sort(key=lambda a: a.keystroke)
        return ScriptRun(script, tuple(answers), errors, tuple(infill))


def _probe_lines(script: Script, count: int) -> list[int]:
    """Offsets of up to ``count`` lines with code in the typed stretch, evenly spread."""
    starts, offset = [], len(script.before)
    for line in script.typed.split("\n"):
        if line.strip() and not line.lstrip().startswith(("#", "//", "*")):
            starts.append(offset)
        offset += len(line) + 1
    if count <= 0 or not starts:
        return []
    step = max(1, len(starts) // count)
    return starts[::step][:count]
