"""The ``openai`` Python client, unchanged, against a real ``codegend serve`` process.

What an OpenAI-style plugin sees: the exception class each refusal raises (so its own error
handling works), ``error.code``, ``top_logprobs`` for ``logprobs=N``, the usage chunk of a
stream with ``include_usage``, and ``models.retrieve``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from codegend.daemon.runtime_file import read_runtime_info
from tests.daemon.conftest import (
    eventually,
    stop_process,
    two_model_yaml,
    wait_until_ready,
    write_config,
)

openai = pytest.importorskip("openai", reason="the openai client is in the dev extra")


@pytest.fixture(scope="module")
def client(parrots, tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    directory = tmp_path_factory.mktemp("openai-client")
    runtime = directory / "runtime"
    runtime.mkdir(mode=0o700)
    config = write_config(directory / "c.yaml", two_model_yaml(parrots))
    env = {**os.environ, "CODEGEND_RUNTIME_DIR": str(runtime)}
    daemon = subprocess.Popen([sys.executable, "-m", "codegend", "serve", "--config",
                               str(config)], env=env, stderr=subprocess.DEVNULL)
    try:
        info = eventually(lambda: read_runtime_info(runtime), timeout_s=60)
        wait_until_ready(info.url)
        # No retries: a refusal must surface as its exception at once.
        yield openai.OpenAI(base_url=info.url + "/v1", api_key="unused", max_retries=0)
    finally:
        stop_process(daemon.pid)
        daemon.wait(30)


def test_completion_with_top_logprobs(client):
    completion = client.completions.create(model="alpha", prompt="x", max_tokens=3, logprobs=2)
    (choice,) = completion.choices
    assert choice.text == "aaa" and choice.finish_reason == "length"
    assert choice.logprobs.tokens == ["a", "a", "a"]
    assert [top["a"] for top in choice.logprobs.top_logprobs] == choice.logprobs.token_logprobs
    assert completion.usage.completion_tokens == 3


def test_stream_ends_with_the_usage_chunk(client):
    stream = client.completions.create(model="beta", prompt="x", max_tokens=4, stream=True,
                                       stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "bbbb"
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4


def test_refusals_raise_the_exception_openai_users_expect(client):
    with pytest.raises(openai.BadRequestError) as invalid:
        client.completions.create(model="alpha", prompt="x", n=2)
    assert invalid.value.status_code == 400 and invalid.value.body["param"] == "n"
    with pytest.raises(openai.BadRequestError) as too_long:
        client.completions.create(model="alpha", prompt="x " * 400)
    assert too_long.value.code == "context_length_exceeded"
    with pytest.raises(openai.NotFoundError) as unknown:
        client.completions.create(model="gpt-3.5-turbo-instruct", prompt="x")
    assert unknown.value.code == "model_not_found"
    assert "alpha, beta" in unknown.value.message


def test_models_list_and_retrieve(client):
    assert [m.id for m in client.models.list()] == ["alpha", "beta"]
    assert client.models.retrieve("beta").id == "beta"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4")
