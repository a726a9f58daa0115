"""Hot swap: the daemon follows its YAML file while serving, and survives bad edits."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.daemon.conftest import eventually, two_model_yaml, write_config

COMPLETE = "/v1/codegend/complete"


def health(url: str) -> dict:
    return httpx.get(url + "/v1/health", timeout=10).json()


def models(url: str) -> dict[str, dict]:
    return {m["id"]: m for m in httpx.get(url + "/v1/models", timeout=10).json()["data"]}


def python_answer(url: str) -> str:
    response = httpx.post(url + COMPLETE, json={"prefix": "x = ", "language": "python"},
                          timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["text"]


@pytest.mark.asyncio
async def test_swapping_the_model_under_load_loses_no_request(daemon: str, config_file: Path,
                                                              parrots):
    answers: list[tuple[float, float, str]] = []  # (sent, answered, text) per request
    failures: list[str] = []
    stop = asyncio.Event()

    async def editor(client: httpx.AsyncClient, n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            sent = time.monotonic()
            response = await client.post(COMPLETE, json={
                "prefix": f"value_{n}_{i} = ", "language": "python", "invoked": True})
            if response.status_code != 200:
                failures.append(response.text)
            else:
                answers.append((sent, time.monotonic(), response.json()["text"]))

    async with httpx.AsyncClient(base_url=daemon, timeout=60) as client:
        editors = [asyncio.create_task(editor(client, n)) for n in range(3)]
        await asyncio.sleep(0.3)
        # alpha now comes from the "b" weights (and is exported to ONNX while alpha serves).
        edited = time.monotonic()
        write_config(config_file, two_model_yaml(parrots, alpha="b"))
        for _ in range(600):
            await asyncio.sleep(0.05)
            if any(text == "b" * 8 for _, _, text in answers):
                break
        await asyncio.sleep(0.3)  # keep the editors typing across the switch
        stop.set()
        await asyncio.gather(*editors)
    assert failures == []
    texts = {text for _, _, text in answers}
    assert texts == {"a" * 8, "b" * 8}
    switched = min(answered for _, answered, text in answers if text == "b" * 8)
    assert all(text == "a" * 8 for sent, _, text in answers if sent < edited)
    # Requests accepted before the switch finish on the old model; every one sent after the
    # first answer from the new model is served by the new one.
    late = [text for sent, _, text in answers if sent > switched]
    assert late and set(late) == {"b" * 8}
    assert python_answer(daemon) == "b" * 8
    # The replaced model's memory is returned: only the new alpha and beta stay loaded.
    eventually(lambda: sorted(m["source"] for m in health(daemon)["loaded"])
               == [str(parrots["b"])] * 2)
    assert health(daemon)["rejected_config"] is None


def test_a_broken_file_keeps_the_old_config_serving(daemon: str, config_file: Path, parrots):
    good = config_file.read_text()
    write_config(config_file, good.replace("max_new_tokens: 8}", "max_new_tokens: eight}", 1))
    rejected = eventually(lambda: health(daemon)["rejected_config"])
    assert f"{config_file}:3: models[0].max_new_tokens: expected an integer" in rejected["error"]
    assert health(daemon)["status"] == "degraded"
    assert python_answer(daemon) == "a" * 8

    write_config(config_file, "models: [\n")  # not even YAML
    eventually(lambda: "invalid YAML" in (health(daemon)["rejected_config"] or {}).get("error", ""))
    assert python_answer(daemon) == "a" * 8

    missing = Path(config_file.parent / "no-such-model")
    write_config(config_file, good.replace(str(parrots["a"]), str(missing)))
    eventually(lambda: str(missing) in (health(daemon)["rejected_config"] or {}).get("error", ""))
    assert python_answer(daemon) == "a" * 8
    assert [m["state"] for m in health(daemon)["models"]] == ["ready", "ready"]

    write_config(config_file, good.replace("max_new_tokens: 8}", "max_new_tokens: 3}", 1))
    eventually(lambda: python_answer(daemon) == "aaa")
    assert health(daemon)["rejected_config"] is None and health(daemon)["status"] == "ok"


def test_new_models_appear_without_restart_and_unrouted_ones_are_unloaded(
        daemon: str, config_file: Path, parrots):
    extra = (f"  - {{name: gamma, source: '{parrots['a']}', backend: torch, device: cpu,"
             " max_new_tokens: 2}\n")
    write_config(config_file, two_model_yaml(parrots, extra_models=extra))
    eventually(lambda: "gamma" in models(daemon))
    gamma = models(daemon)["gamma"]
    assert gamma["state"] == "unloaded"  # no route uses it: it loads on first use
    response = httpx.post(daemon + "/v1/completions", json={"model": "gamma", "prompt": "x"},
                          timeout=60)
    assert response.status_code == 200 and response.json()["choices"][0]["text"] == "aa"
    assert {m["name"]: m["state"] for m in health(daemon)["models"]}["gamma"] == "ready"

    # Route everything to alpha: beta (and the lazily loaded gamma) are unloaded.
    write_config(config_file, two_model_yaml(parrots, extra_models=extra,
                                             routes="  - {model: alpha}\n"))
    eventually(lambda: [m["name"] for m in health(daemon)["loaded"]] == ["alpha"])
    assert httpx.post(daemon + COMPLETE, json={"prefix": "x", "language": "rust"}
                      ).json()["text"] == "a" * 8
    states = {m["name"]: m["state"] for m in health(daemon)["models"]}
    assert states == {"alpha": "ready", "beta": "unloaded", "gamma": "unloaded"}
