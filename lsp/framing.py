"""The LSP base protocol on a byte stream: headers, then a body of Content-Length bytes.

pygls' reader matches ``Content-Length: N`` case-sensitively, trusts N (a client that sends
10^15 gets a MemoryError instead of an answer) and, once a length was wrong, never finds a
header again: every later header line starts with the previous body's leftover bytes. Here:

- header names are case-insensitive and other headers are ignored, as the specification
  allows; a header line is at most ``MAX_HEADER_LINE`` bytes in memory, however long it is;
- a Content-Length above ``MAX_MESSAGE_BYTES`` (or not a number) is refused without reading
  the body into memory; what follows is skipped as garbage;
- after garbage (a wrong length's leftovers, an unframed message), the next header found
  anywhere in a line starts the next message, so one broken message costs at most the next.

Each problem is logged once per kind (a flood of them is one line and a count).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import stat
import threading
from collections import Counter
from collections.abc import Callable
from typing import BinaryIO

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 256 * 1024 * 1024  # a 64 MB document, JSON-escaped, still fits
MAX_HEADER_LINE = 4096
STREAM_LIMIT = 64 * 1024  # the reader's buffer limit for one line (flow control above it)
_CONTENT_LENGTH = re.compile(rb"content-length[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)
_OTHER_HEADER = re.compile(rb"[!#-'*+.0-9A-Z^-z|~-]+[ \t]*:[^\r\n]*\r?\n")  # token ":" value


class FramingProblems:
    """Counts framing problems; logs the first of each kind and every power of ten after."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def report(self, kind: str, detail: str = "") -> None:
        self.counts[kind] += 1
        count = self.counts[kind]
        if count == 1 or count in (10, 100, 1000, 10_000, 100_000):
            suffix = f" ({count} so far)" if count > 1 else ""
            logger.warning("LSP framing: %s%s%s", kind, f": {detail}" if detail else "", suffix)


async def _read_line(reader: asyncio.StreamReader) -> tuple[bytes, bool] | None:
    """The next line (through ``\\n``), or of an overlong one its last ``MAX_HEADER_LINE``
    bytes; and whether it was overlong. None at the end of the stream."""
    tail = b""
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError as err:
            # Discard what cannot be a header, keeping its end (a header may be glued to it).
            chunk = await reader.read(max(1, err.consumed))
            tail = (tail + chunk)[-MAX_HEADER_LINE:]
            continue
        except asyncio.IncompleteReadError:
            return None
        if tail or len(line) > MAX_HEADER_LINE:
            return (tail + line)[-MAX_HEADER_LINE:], True
        return line, False


async def read_message(reader: asyncio.StreamReader, problems: FramingProblems) -> bytes | None:
    """The body of the next well-framed message; None at the end of the stream."""
    while True:
        length: int | None = None
        seen_header = False
        while True:
            read = await _read_line(reader)
            if read is None:
                return None
            line, overlong = read
            if not line.strip():
                if seen_header:
                    break
                continue  # blank lines between messages
            match = _CONTENT_LENGTH.search(line)
            if match is not None:
                if match.start() > 0 or overlong:
                    problems.report("skipped bytes before a header", repr(line[:40]))
                seen_header = True
                value = match.group(1).strip()
                length = int(value) if value.isdigit() else None
                if length is None or length > MAX_MESSAGE_BYTES:
                    shown = value[:40].decode("ascii", "replace")
                    problems.report("refused a Content-Length", shown)
                    length = None
            elif not overlong and _OTHER_HEADER.match(line):
                seen_header = True  # Content-Type and the like: allowed, and not needed
            else:
                problems.report("skipped bytes that are not a header", repr(line[:40]))
        if length is None:
            continue  # no usable length: the body (of unknown size) is skipped as garbage
        try:
            return await reader.readexactly(length)
        except asyncio.IncompleteReadError:
            return None


async def pump(reader: asyncio.StreamReader, receive: Callable[[bytes], None]) -> None:
    """Hand every message body to ``receive`` until the stream ends."""
    problems = FramingProblems()
    while (body := await read_message(reader, problems)) is not None:
        receive(body)
        await asyncio.sleep(0)  # let the handlers this message started run before the next


async def open_binary_stream(stream: BinaryIO) -> asyncio.StreamReader:
    """An asyncio reader over ``stream`` (stdin): a pipe or socket is read by the event
    loop with flow control; anything else (a file, a terminal) by a thread."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=STREAM_LIMIT)
    mode = os.fstat(stream.fileno()).st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stream)
        return reader

    def read_blocking() -> None:
        try:
            while chunk := os.read(stream.fileno(), 65536):
                loop.call_soon_threadsafe(reader.feed_data, chunk)
        except OSError:
            pass
        finally:
            with contextlib.suppress(RuntimeError):  # the loop is already gone
                loop.call_soon_threadsafe(reader.feed_eof)

    threading.Thread(target=read_blocking, name="lsp-stdin", daemon=True).start()
    return reader
