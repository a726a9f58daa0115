"""Both CompletionClients — in-process and over HTTP — keep the same contract on the real engine.

The HTTP client is obtained exactly as ``codegend lsp`` obtains it (``open_client``), finding
the daemon through its runtime file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from codegend.daemon.client.connect import open_client
from codegend.daemon.client_api import CompletionRequest, ModelInfo, NoRoute
from codegend.daemon.config import load_config
from codegend.daemon.runtime_file import RuntimeInfo, write_runtime_info
from codegend.engine.errors import CodegendError
from tests.daemon.conftest import serve_in_thread, two_model_yaml, write_config

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture(params=["embedded", "http"])
async def client(request, config_file: Path, runtime_dir: Path):
    if request.param == "embedded":
        client = await open_client(config_file, embedded=True)
        yield client
        await client.aclose()
        return
    with serve_in_thread(load_config(config_file)) as url:
        write_runtime_info(RuntimeInfo(url, os.getpid(), str(config_file), time.time()))
        client = await open_client(config_file, embedded=False)
        yield client
        await client.aclose()


async def cancelled_running(client) -> float:
    """How many generations were cancelled mid-way, read from the metrics the daemon keeps."""
    if hasattr(client, "core"):
        value = client.core.metrics.registry.get_sample_value(
            "codegend_cancellations_total", {"model": "beta", "stage": "running"})
        return value or 0.0
    from prometheus_client.parser import text_string_to_metric_families

    url = client._client.base_url
    text = (await asyncio.to_thread(httpx.get, url + "/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "codegend_cancellations_total" and sample.labels == {
                    "model": "beta", "stage": "running"}:
                return sample.value
    return 0.0


async def test_model_info_and_the_facts_each_answer_carries(client):
    assert await client.model_info("python") == ModelInfo("alpha", 256, 8, None, 0)
    assert (await client.model_info("rust", "/src/main.rs")).name == "beta"
    assert (await client.model_info("python", model="beta")).name == "beta"  # named wins
    # One request per completion: the answer itself says which model gave it.
    stream = client.stream(CompletionRequest(prefix="x", language="rust", max_new_tokens=2))
    assert stream.model is None
    assert "".join([chunk.text async for chunk in stream]) == "bb"
    assert stream.model == ModelInfo("beta", 2048, 8, None, 0)


async def test_complete_and_stream_agree(client):
    request = CompletionRequest(prefix="for i in range(", language="python", max_new_tokens=6,
                                document_key="file:///a.py", invoked=True)
    result = await client.complete(request)
    assert (result.text, result.model, result.finish_reason) == ("aaaaaa", "alpha", "length")
    assert result.generated_tokens == 6 and len(result.logprobs) == 6
    chunks = [chunk async for chunk in client.stream(request)]
    assert "".join(c.text for c in chunks) == result.text
    assert sum(c.tokens for c in chunks) == result.generated_tokens
    repeated = await client.complete(request)
    assert repeated.reused_prefix_tokens > 0  # the same prompt again hits the KV prefix cache


async def test_closing_a_stream_early_cancels_the_generation(client):
    request = CompletionRequest(prefix="x", language="rust", max_new_tokens=500)
    stream = client.stream(request)
    first = await anext(stream)
    assert first.text == "b"
    await stream.aclose()
    deadline = time.monotonic() + 30
    while await cancelled_running(client) < 1:
        assert time.monotonic() < deadline, "the generation was not cancelled"
        await asyncio.sleep(0.05)
    after = await client.complete(CompletionRequest(prefix="y", language="rust"))
    assert after.text == "b" * 8


async def test_models_errors_and_config_errors(client, config_file: Path):
    for language in ("python", "rust"):  # an embedded core may still be loading them
        await client.model_info(language)
    assert [(m.name, m.state, m.languages) for m in await client.models()] == [
        ("alpha", "ready", ("python",)), ("beta", "ready", ("*",))]
    with pytest.raises(CodegendError, match="no model named 'nope'"):
        await client.complete(CompletionRequest(prefix="x", model="nope"))
    assert await client.config_error() == ""
    write_config(config_file, config_file.read_text().replace("port: 0", "port: [0]"))
    deadline = time.monotonic() + 30
    while not (error := await client.config_error()):
        assert time.monotonic() < deadline, "the broken config was never reported"
        await asyncio.sleep(0.05)
    assert "server.port: expected a single value" in error
    assert (await client.complete(CompletionRequest(prefix="x", language="python"))).text \
        == "a" * 8


@pytest.mark.parametrize("embedded", [True, False])
async def test_a_language_no_route_serves_is_the_same_error_through_both_clients(
        embedded: bool, tmp_path: Path, parrots, runtime_dir: Path):
    config_file = write_config(tmp_path / "codegend.yaml", two_model_yaml(
        parrots, routes="  - {languages: [python], model: alpha}\n"))
    with contextlib.ExitStack() as stack:
        if not embedded:
            url = stack.enter_context(serve_in_thread(load_config(config_file)))
            write_runtime_info(RuntimeInfo(url, os.getpid(), str(config_file), time.time()))
        client = await open_client(config_file, embedded=embedded)
        try:
            with pytest.raises(NoRoute, match="no model serves rust"):
                await client.complete(CompletionRequest(prefix="fn main", language="rust"))
            with pytest.raises(NoRoute, match="no model serves rust"):
                async for _ in client.stream(CompletionRequest(prefix="fn", language="rust")):
                    pass
            assert (await client.complete(CompletionRequest(prefix="x", language="python"))) \
                .text == "a" * 8
        finally:
            await client.aclose()


async def test_a_config_path_that_does_not_exist_is_a_clear_error(tmp_path: Path):
    with pytest.raises(CodegendError, match="config file not found"):
        await open_client(tmp_path / "nope.yaml", embedded=True)


async def test_http_client_reports_an_unreachable_daemon(tmp_path: Path, parrots):
    from codegend.daemon.client.http_client import HttpClient
    from codegend.daemon.client_api import DaemonUnavailable

    config = load_config(write_config(tmp_path / "c.yaml", two_model_yaml(parrots)))
    with serve_in_thread(config) as url:
        pass  # now nothing listens there any more
    client = HttpClient(url)
    with pytest.raises(DaemonUnavailable, match="does not answer"):
        await client.models()
    with pytest.raises(DaemonUnavailable, match="stopped answering"):
        async for _ in client.stream(CompletionRequest(prefix="x")):
            pass
    await client.aclose()
