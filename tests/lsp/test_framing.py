"""The LSP base protocol reader (lsp/framing.py) on byte streams a client may really send."""

from __future__ import annotations

import asyncio
import json

import pytest

from codegend.lsp.framing import (
    MAX_HEADER_LINE,
    STREAM_LIMIT,
    FramingProblems,
    read_message,
)

pytestmark = pytest.mark.asyncio


def body(number: int) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": number, "method": "codegend/stats"}).encode()


def framed(data: bytes, header: bytes = b"Content-Length") -> bytes:
    return header + b": %d\r\n\r\n" % len(data) + data


async def read_all(stream: bytes) -> tuple[list[bytes], FramingProblems]:
    reader = asyncio.StreamReader(limit=STREAM_LIMIT)
    reader.feed_data(stream)
    reader.feed_eof()
    problems = FramingProblems()
    bodies = []
    while (message := await read_message(reader, problems)) is not None:
        bodies.append(message)
    return bodies, problems


async def test_header_names_are_case_insensitive_and_other_headers_ignored() -> None:
    stream = (framed(body(1), b"content-length") + framed(body(2), b"CONTENT-LENGTH")
              + b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n" + framed(body(3))
              + b"Content-Length:%d\r\nX-Other: 1\r\n\r\n" % len(body(4)) + body(4))
    bodies, problems = await read_all(stream)
    assert bodies == [body(1), body(2), body(3), body(4)]
    assert not problems.counts


@pytest.mark.parametrize("length", [b"1000000000000000", b"18446744073709551617", b"-5",
                                    b"abc", b""])
async def test_an_absurd_content_length_is_refused_and_the_next_message_read(length) -> None:
    stream = b"Content-Length: " + length + b"\r\n\r\n" + body(1) + framed(body(2))
    bodies, problems = await read_all(stream)
    assert bodies == [body(2)]
    assert problems.counts["refused a Content-Length"] == 1


@pytest.mark.parametrize("error", [-3, -1, 1, 3])
async def test_a_slightly_wrong_length_costs_at_most_the_next_message(error) -> None:
    first = body(1)
    stream = (b"Content-Length: %d\r\n\r\n" % (len(first) + error) + first
              + framed(body(2)) + framed(body(3)) + framed(body(4)))
    bodies, _ = await read_all(stream)
    assert bodies[-2:] == [body(3), body(4)]  # in sync again, for good


async def test_garbage_and_endless_lines_are_skipped_in_bounded_memory() -> None:
    stream = (b"\x00\xff garbage\r\n" + b"X" * (5 * STREAM_LIMIT) + b"\r\n" + framed(body(1))
              + b"Y" * (3 * STREAM_LIMIT) + framed(body(2)))  # a header glued to garbage
    bodies, problems = await read_all(stream)
    assert bodies == [body(1), body(2)]
    assert problems.counts["skipped bytes that are not a header"] >= 1
    assert MAX_HEADER_LINE < STREAM_LIMIT


async def test_the_end_of_the_stream_mid_message_ends_reading() -> None:
    bodies, _ = await read_all(framed(body(1)) + b"Content-Length: 50\r\n\r\n{\"jsonrpc\"")
    assert bodies == [body(1)]
