"""A seeded, bounded fuzz of the language server's input (tests/lsp/lsp_fuzz.py) on the real
`codegend lsp --embedded` and the tiny model: malformed headers and lengths, garbage,
invalid JSON and JSON-RPC, wrong params, lone surrogates, out-of-range positions, mixed
with real edits and completions. No crash, no hang, no traceback, at most one pop-up per
distinct problem; every request with a usable id answered; serving afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lsp.conftest import lsp_command, server_env
from tests.lsp.lsp_fuzz import fuzz_stream, run_fuzz
from tests.lsp.raw_client import RawLspClient

pytestmark = pytest.mark.asyncio

MESSAGES = 400


async def test_fuzzed_messages(tiny_config: Path, tmp_path: Path) -> None:
    client = await RawLspClient.start(lsp_command(tiny_config), env=server_env(tmp_path),
                                      stderr_path=tmp_path / "stderr")
    try:
        await client.initialize({"debounceMs": 0})
        await client.wait_for_status("ready", timeout=120)
        report = await run_fuzz(client, fuzz_stream(seed=18, count=MESSAGES))
        summary = report.as_json()
        assert report.exit_status is None, client.stderr_text()[-3000:]
        assert report.hangs == 0, summary
        assert report.tracebacks == 0, client.stderr_text()[-3000:]
        assert summary["max_popups_per_text"] <= 1, report.popups
        assert report.requests > 50  # the stream did carry requests
        stats = await client.request("codegend/stats", {}, 10)
        assert "result" in stats
        assert (await client.request("shutdown", None, 10)).get("result", 0) is None
        await client.notify("exit")
        assert await client.wait_exit(10) == 0
    finally:
        await client.kill()
