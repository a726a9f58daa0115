"""One request per completion over HTTP, counted by the daemon: a real `codegend lsp` on the
shared daemon asks nothing but the completion itself (model facts come with each answer)."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from codegend.daemon.runtime_file import read_runtime_info
from tests.lsp.conftest import server_env
from tests.lsp.helpers import (
    inline_completion,
    open_document,
    start_client,
    stop_client,
    wait_for_status,
)
from tests.lsp.test_shared_daemon import free_port, stop_daemon

pytestmark = pytest.mark.asyncio
COMPLETIONS = 5


def requests_by_route(url: str) -> dict[str, float]:
    text = httpx.get(url + "/metrics", timeout=10, trust_env=False).text
    return {sample.labels["route"]: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == "codegend_http_requests_total"}


async def test_each_completion_is_one_http_request(tiny_model_dir: Path, tmp_path: Path):
    config = tmp_path / "codegend.yaml"
    config.write_text(
        f"server: {{host: 127.0.0.1, port: {free_port()}}}\n"
        f"models:\n  - {{name: tiny, source: '{tiny_model_dir}', backend: torch,"
        " max_new_tokens: 4}\n")
    runtime = tmp_path / "runtime"
    env = {**server_env(tmp_path), "CODEGEND_RUNTIME_DIR": str(runtime)}
    command = [sys.executable, "-m", "codegend", "lsp", "--config", str(config)]
    # Prefetch off: after each shown suggestion it sends one background request (the next
    # suggestion, for Tab), which is not part of answering a completion.
    client, _, statuses = await start_client(
        command, env=env, initialization_options={"debounceMs": 0, "prefetch": False})
    try:
        await wait_for_status(statuses, "ready", timeout=120)
        url = read_runtime_info(runtime).url
        before = requests_by_route(url)
        for n in range(COMPLETIONS):  # fresh documents: never answered from the cache
            uri = f"file:///work/project/module_{n}.py"
            open_document(client, uri, f"value_{n} = compute(\n\nprint(value_{n})\n")
            await inline_completion(client, uri, 0, len(f"value_{n} = compute("))
        after = requests_by_route(url)
        per_completion = {route: after.get(route, 0) - before.get(route, 0)
                          for route in after if route.startswith("/v1/codegend/")}
        # Nothing but the completions: no model_info, no tokenize trips.
        assert {route: n for route, n in per_completion.items() if n} == {
            "/v1/codegend/complete": COMPLETIONS}
    finally:
        await stop_client(client)
        await stop_daemon(runtime)
