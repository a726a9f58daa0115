"""The native HTTP API through a real daemon on 127.0.0.1 and the real engine."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from codegend.daemon.config import load_config
from tests.daemon.conftest import (
    eventually,
    serve_in_thread,
    two_model_yaml,
    with_server,
    write_config,
)

COMPLETE = "/v1/codegend/complete"


def complete(url: str, **body) -> dict:
    response = httpx.post(url + COMPLETE, json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def metric(url: str, name: str, **labels) -> float:
    """One sample of /metrics, parsed from the Prometheus text the endpoint serves."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(url + "/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def test_requests_are_routed_by_language_and_glob(tmp_path: Path, parrots):
    routes = ("  - {languages: [python], model: alpha}\n"
              "  - {files: ['docs/*.md'], model: alpha}\n"
              "  - {model: beta}\n")
    config = load_config(write_config(tmp_path / "c.yaml", two_model_yaml(parrots, routes=routes)))
    with serve_in_thread(config) as url:
        python = complete(url, prefix="def f(", language="python")
        assert python["text"] == "a" * 8 and python["model"] == "alpha"
        assert python["finish_reason"] == "length" and python["generated_tokens"] == 8
        assert len(python["logprobs"]) == 8
        assert complete(url, prefix="fn main() {", language="rust")["text"] == "b" * 8
        assert complete(url, prefix="# Title", language="markdown",
                        path="/home/u/proj/docs/intro.md")["model"] == "alpha"
        assert complete(url, prefix="# Title", language="markdown",
                        path="/home/u/proj/README.md")["model"] == "beta"
        assert complete(url, prefix="x", language="rust", model="alpha")["text"] == "a" * 8


def test_streaming_as_ndjson_and_sse_matches_the_whole_result(daemon: str):
    body = {"prefix": "import os\n", "language": "python", "max_new_tokens": 5, "stream": True}
    with httpx.stream("POST", daemon + COMPLETE, json=body, timeout=30) as response:
        assert response.headers["content-type"].startswith("application/x-ndjson")
        events = [json.loads(line) for line in response.iter_lines() if line]
    assert [e["type"] for e in events] == ["chunk"] * 5 + ["done"]
    assert "".join(e["text"] for e in events[:-1]) == events[-1]["result"]["text"] == "aaaaa"
    with httpx.stream("POST", daemon + COMPLETE, json=body, timeout=30,
                      headers={"Accept": "text/event-stream"}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert json.loads(lines[-1][6:])["result"]["text"] == "aaaaa"


def test_stop_strings_and_budget_reach_the_engine(daemon: str):
    stopped = complete(daemon, prefix="x = ", language="python", stop=["aaa"])
    assert stopped["text"] == "" and stopped["finish_reason"] == "stop"
    assert complete(daemon, prefix="x = ", language="python", max_new_tokens=3)["text"] == "aaa"
    empty = complete(daemon, prefix="x = ", language="python", max_new_tokens=0)
    assert empty["text"] == "" and empty["generated_tokens"] == 0


def test_tokenize_and_model_info_answer_for_the_routed_model(daemon: str, parrots):
    from transformers import AutoTokenizer

    texts = ["def add(a, b):\n    return a + b\n", "", "ünïcode ✓"]
    response = httpx.post(daemon + "/v1/codegend/tokenize",
                          json={"model": "alpha", "texts": texts}, timeout=30)
    assert response.status_code == 200, response.text
    tokenizer = AutoTokenizer.from_pretrained(str(parrots["a"]))
    expected = [len(tokenizer.encode(t, add_special_tokens=False)) for t in texts]
    assert response.json()["counts"] == expected
    info = httpx.get(daemon + "/v1/codegend/model_info", params={"language": "python"}).json()
    assert info == {"name": "alpha", "context_tokens": 256, "max_new_tokens": 8,
                    "fim_template": None, "config_generation": 0,
                    "min_confidence": None}


def test_health_and_metrics_describe_the_served_requests(daemon: str):
    health = httpx.get(daemon + "/v1/health").json()
    assert health["status"] == "ok" and health["rejected_config"] is None
    assert {m["name"]: m["state"] for m in health["models"]} == {"alpha": "ready",
                                                                 "beta": "ready"}
    for _ in range(3):  # the same prompt again: its KV prefix is reused
        complete(daemon, prefix="def fibonacci(n):\n    ", language="python")
    assert metric(daemon, "codegend_requests_total", model="alpha", outcome="completed") == 3
    assert metric(daemon, "codegend_generated_tokens_total", model="alpha") == 24
    assert metric(daemon, "codegend_time_to_first_token_seconds_count", model="alpha") == 3
    assert metric(daemon, "codegend_token_latency_seconds_count", model="alpha") == 21
    assert metric(daemon, "codegend_prefix_cache_hit_ratio", model="alpha") > 0.5
    assert metric(daemon, "codegend_cancellations_total", model="alpha", stage="running") == 0


def test_a_client_that_disconnects_cancels_its_generation(tmp_path: Path, parrots):
    yaml = two_model_yaml(parrots, extra_server=", max_tokens_limit: 1500")
    with serve_in_thread(load_config(write_config(tmp_path / "c.yaml", yaml))) as url:
        body = {"prefix": "x", "language": "rust", "max_new_tokens": 1500, "stream": True}
        with httpx.stream("POST", url + COMPLETE, json=body, timeout=30) as response:
            first = next(line for line in response.iter_lines() if line)
            assert json.loads(first)["text"] == "b"
        # The torch parrot needs seconds for 1500 tokens; the cancellation lands far sooner.
        eventually(lambda: metric(url, "codegend_requests_total", model="beta",
                                  outcome="cancelled") == 1)
        assert metric(url, "codegend_cancellations_total", model="beta", stage="running") == 1
        assert metric(url, "codegend_generated_tokens_total", model="beta") < 1500

        # The same without streaming: the daemon notices the closed connection while the
        # client waits for the whole answer.
        async def abandon() -> None:
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                waiting = asyncio.create_task(client.post(COMPLETE, json={
                    **body, "stream": False, "prefix": "z"}))
                before = metric(url, "codegend_generated_tokens_total", model="beta")
                await asyncio.to_thread(eventually, lambda: metric(
                    url, "codegend_generated_tokens_total", model="beta") > before)
                waiting.cancel()

        asyncio.run(abandon())
        eventually(lambda: metric(url, "codegend_requests_total", model="beta",
                                  outcome="cancelled") == 2)
        assert metric(url, "codegend_generated_tokens_total", model="beta") < 3000
        assert complete(url, prefix="y", language="rust")["text"] == "b" * 8


@pytest.mark.asyncio
async def test_a_full_queue_answers_429_with_retry_after(tmp_path: Path, parrots):
    yaml = two_model_yaml(parrots, extra_server=", max_queue: 1, max_tokens_limit: 1500")
    config = load_config(write_config(tmp_path / "c.yaml", yaml))
    with serve_in_thread(config) as url:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            def body(i: int, tokens: int = 8, **extra) -> dict:
                return {"prefix": f"let x{i} = ", "language": "rust", "max_new_tokens": tokens,
                        "document_key": f"file{i}.rs", **extra}

            # One long generation holds the model; one request waits behind it; the queue
            # (max_queue: 1) is then full and the next request is turned away at once.
            async with client.stream("POST", COMPLETE, json=body(0, 1500, stream=True)) as long:
                assert long.status_code == 200
                lines = long.aiter_lines()  # kept: a dropped iterator closes the connection
                await anext(lines)
                waiting = asyncio.create_task(client.post(COMPLETE, json=body(1)))
                await asyncio.to_thread(eventually, lambda: metric(
                    url, "codegend_queue_depth", model="beta") == 1)
                busy = await client.post(COMPLETE, json=body(2))
                assert busy.status_code == 429
                assert int(busy.headers["Retry-After"]) >= 1
                assert "busy" in busy.json()["error"]["message"]
                openai_busy = await client.post("/v1/completions",
                                                json={"model": "beta", "prompt": "x"})
                assert openai_busy.status_code == 429
            # Leaving the long stream cancels it; the waiting request then runs normally.
            served = await waiting
            assert served.status_code == 200 and served.json()["text"] == "b" * 8
            assert metric(url, "codegend_requests_total", model="beta", outcome="busy") == 2


def test_bad_input_gets_4xx_and_the_daemon_keeps_serving(tmp_path: Path, parrots):
    yaml = two_model_yaml(parrots, extra_server=", max_body_bytes: 4096, max_prompt_chars: 1000"
                                                ", max_tokens_limit: 32")
    with serve_in_thread(load_config(write_config(tmp_path / "c.yaml", yaml))) as url:
        post = lambda **kw: httpx.post(url + COMPLETE, timeout=30, **kw)  # noqa: E731
        cases = {
            "malformed json": post(content=b'{"prefix": "x",', headers=_JSON),
            "not an object": post(json=["prefix"]),
            "wrong type": post(json={"prefix": 42}),
            "unknown field": post(json={"prefix": "x", "colour": "red"}),
            "negative budget": post(json={"prefix": "x", "max_new_tokens": -1}),
            "over max_tokens_limit": post(json={"prefix": "x", "max_new_tokens": 33}),
            "prompt too long": post(json={"prefix": "x" * 1001}),
            "bad temperature": post(json={"prefix": "x", "temperature": -1}),
            "lone surrogate": post(content=b'{"prefix": "\\ud800"}', headers=_JSON),
            "unknown model": post(json={"prefix": "x", "model": "nope"}),
            "body too large": post(content=b'{"prefix": "' + b"x" * 5000 + b'"}', headers=_JSON),
            "chunked too large": post(content=iter([b'{"prefix": "', b"x" * 5000, b'"}']),
                                      headers=_JSON),
        }
        statuses = {name: r.status_code for name, r in cases.items()}
        assert statuses == {
            "malformed json": 400, "not an object": 400, "wrong type": 400,
            "unknown field": 400, "negative budget": 400, "over max_tokens_limit": 400,
            "prompt too long": 400, "bad temperature": 400, "lone surrogate": 400,
            "unknown model": 404, "body too large": 413, "chunked too large": 413,
        }
        for name, response in cases.items():
            message = response.json()["error"]["message"]
            assert message and "internal" not in message, name
        assert "max_tokens_limit (32)" in cases["over max_tokens_limit"].json()["error"]["message"]
        assert "models: alpha, beta" in cases["unknown model"].json()["error"]["message"]
        assert complete(url, prefix="ok", language="python")["text"] == "a" * 8


_JSON = {"Content-Type": "application/json"}


def test_a_model_that_fails_to_load_is_reported_and_answers_503(tmp_path: Path, parrots):
    yaml = two_model_yaml(parrots).replace(str(parrots["b"]), str(tmp_path / "missing"))
    with serve_in_thread(load_config(write_config(tmp_path / "c.yaml", yaml))) as url:
        health = httpx.get(url + "/v1/health").json()
        assert health["status"] == "degraded"
        beta = next(m for m in health["models"] if m["name"] == "beta")
        assert beta["state"] == "failed" and str(tmp_path / "missing") in beta["reason"]
        response = httpx.post(url + COMPLETE, json={"prefix": "x", "language": "rust"})
        assert response.status_code == 503
        assert "missing" in response.json()["error"]["message"]
        assert complete(url, prefix="x", language="python")["text"] == "a" * 8


def test_server_settings_bound_what_a_config_can_loosen(config_file: Path):
    config = with_server(load_config(config_file), max_tokens_limit=4)
    with serve_in_thread(config) as url:
        assert httpx.post(url + COMPLETE, json={"prefix": "x", "max_new_tokens": 5}
                          ).status_code == 400
        assert complete(url, prefix="x", language="python", max_new_tokens=4)["text"] == "aaaa"
