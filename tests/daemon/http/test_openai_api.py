"""OpenAI-compatible endpoints, called with a plain HTTP client the way editor plugins do."""

from __future__ import annotations

import json

import httpx


def test_a_plugin_style_completion_request(daemon: str):
    # What Continue / twinny style plugins send to an OpenAI-compatible completions endpoint.
    body = {"model": "alpha", "prompt": "def fib(n):\n    ", "max_tokens": 5,
            "temperature": 0.01, "top_p": 0.95, "stop": ["\n\n", "\ndef "], "stream": False,
            "n": 1, "presence_penalty": 0, "frequency_penalty": 0, "user": "editor"}
    response = httpx.post(daemon + "/v1/completions", json=body,
                          headers={"Authorization": "Bearer unused-on-loopback"}, timeout=30)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["object"] == "text_completion" and data["id"].startswith("cmpl-")
    assert data["model"] == "alpha"
    assert data["choices"] == [{"text": "aaaaa", "index": 0, "finish_reason": "length",
                                "logprobs": None}]
    assert data["usage"]["completion_tokens"] == 5
    assert data["usage"]["total_tokens"] == data["usage"]["prompt_tokens"] + 5


def test_streaming_sends_server_sent_events_ending_with_done(daemon: str):
    body = {"model": "beta", "prompt": ["fn main() {"], "max_tokens": 4, "stream": True,
            "stop": "zzz"}
    with httpx.stream("POST", daemon + "/v1/completions", json=body, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    events = [json.loads(line[6:]) for line in lines[:-1]]
    assert len({e["id"] for e in events}) == 1
    assert "".join(e["choices"][0]["text"] for e in events) == "bbbb"
    assert [e["choices"][0]["finish_reason"] for e in events] == [None] * 4 + ["length"]


def test_stop_strings_logprobs_and_defaults(daemon: str):
    stopped = httpx.post(daemon + "/v1/completions", json={
        "model": "alpha", "prompt": "x", "stop": "aaa", "max_tokens": 10}).json()
    assert stopped["choices"][0]["text"] == "" and stopped["choices"][0]["finish_reason"] == "stop"
    default = httpx.post(daemon + "/v1/completions", json={"prompt": "x", "logprobs": 1}).json()
    choice = default["choices"][0]
    assert default["model"] == "beta"  # no model: the fallback route
    assert choice["text"] == "b" * 8  # no max_tokens: the model's configured max_new_tokens
    assert choice["logprobs"]["tokens"] == ["b"] * 8
    assert len(choice["logprobs"]["token_logprobs"]) == 8
    assert choice["logprobs"]["text_offset"] == list(range(8))


def test_what_codegend_cannot_honour_is_refused_clearly(daemon: str):
    for body, needle in [
        ({"prompt": "x", "n": 2}, "n"),
        ({"prompt": "x", "echo": True}, "echo"),
        ({"prompt": [1, 2, 3]}, "prompt"),
        ({"prompt": "x", "model": "gpt-3.5-turbo-instruct"}, "no model named"),
        ({"prompt": "x", "stop": [""]}, "stop"),
    ]:
        response = httpx.post(daemon + "/v1/completions", json=body)
        assert response.status_code in (404, 422), (body, response.text)
        assert needle in response.json()["error"]["message"], (body, response.text)


def test_models_lists_every_configured_model(daemon: str):
    data = httpx.get(daemon + "/v1/models").json()
    assert data["object"] == "list"
    assert [(m["id"], m["object"], m["owned_by"], m["state"]) for m in data["data"]] == [
        ("alpha", "model", "codegend", "ready"), ("beta", "model", "codegend", "ready")]
