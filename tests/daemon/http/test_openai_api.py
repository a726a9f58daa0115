"""OpenAI-compatible endpoints, called with a plain HTTP client the way editor plugins do."""

from __future__ import annotations

import json

import httpx

JSON = {"Content-Type": "application/json"}


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


def test_what_codegend_cannot_honour_is_refused_in_openais_shape(daemon: str):
    for body, status, param, code, needle in [
        ({"prompt": "x", "n": 2}, 400, "n", None, "'n'"),
        ({"prompt": "x", "echo": True}, 400, "echo", None, "'echo'"),
        ({"prompt": [1, 2, 3]}, 400, "prompt", None, "'prompt'"),
        (b'{"prompt": "\\ud800"}', 400, "prompt", None, "lone surrogate"),
        ({"prompt": "x", "max_tokens": "many"}, 400, "max_tokens", None, "integer"),
        ({"prompt": "x", "model": "gpt-3.5-turbo-instruct"}, 404, "model", "model_not_found",
         "no model named"),
        ({"prompt": "x", "stop": [""]}, 400, None, None, "stop"),
        ({"prompt": "x", "stream_options": {"include_usage": True}}, 400, "stream_options", None,
         "stream"),
    ]:
        response = httpx.post(daemon + "/v1/completions", content=body, headers=JSON) if (
            isinstance(body, bytes)) else httpx.post(daemon + "/v1/completions", json=body)
        assert response.status_code == status, (body, response.text)
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
        assert (error["param"], error["code"]) == (param, code), (body, error)
        assert needle in error["message"], (body, error)
        assert "function-after" not in error["message"]  # no validator internals


def test_a_prompt_over_the_context_is_context_length_exceeded_unless_truncated(daemon: str):
    long = "x " * 400  # alpha's context is 256 tokens
    refused = httpx.post(daemon + "/v1/completions", json={"model": "alpha", "prompt": long})
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["param"], error["type"]) == (
        "context_length_exceeded", "prompt", "invalid_request_error")
    assert "256" in error["message"]
    kept = httpx.post(daemon + "/v1/completions",
                      json={"model": "alpha", "prompt": long, "truncate": True})
    assert kept.status_code == 200, kept.text
    assert kept.json()["usage"]["prompt_tokens"] <= 256 - 8


def test_top_logprobs_and_the_usage_chunk(daemon: str):
    body = {"model": "alpha", "prompt": "x", "max_tokens": 3, "logprobs": 2}
    choice = httpx.post(daemon + "/v1/completions", json=body).json()["choices"][0]
    tops = choice["logprobs"]["top_logprobs"]
    assert len(tops) == 3 and all(1 <= len(top) <= 3 for top in tops)
    assert all(top["a"] == lp for top, lp in zip(tops, choice["logprobs"]["token_logprobs"],
                                                 strict=True))
    assert all(max(top.values()) == top["a"] for top in tops)  # the parrot's choice is the best
    stream = {**body, "stream": True, "stream_options": {"include_usage": True}}
    with httpx.stream("POST", daemon + "/v1/completions", json=stream, timeout=30) as response:
        lines = [line for line in response.iter_lines() if line]
    events = [json.loads(line[6:]) for line in lines[:-1]]
    assert lines[-1] == "data: [DONE]"
    *chunks, last = events
    assert all(e["usage"] is None for e in chunks) and last["choices"] == []
    assert last["usage"]["completion_tokens"] == 3
    assert last["usage"]["total_tokens"] == last["usage"]["prompt_tokens"] + 3
    assert [len(e["choices"][0]["logprobs"]["top_logprobs"]) for e in chunks[:-1]] == [1, 1, 1]


def test_one_model_by_id(daemon: str):
    alpha = httpx.get(daemon + "/v1/models/alpha")
    assert alpha.status_code == 200
    assert (alpha.json()["id"], alpha.json()["object"]) == ("alpha", "model")
    missing = httpx.get(daemon + "/v1/models/gpt-4")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"


def test_models_lists_every_configured_model(daemon: str):
    data = httpx.get(daemon + "/v1/models").json()
    assert data["object"] == "list"
    assert [(m["id"], m["object"], m["owned_by"], m["state"]) for m in data["data"]] == [
        ("alpha", "model", "codegend", "ready"), ("beta", "model", "codegend", "ready")]
