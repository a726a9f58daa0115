"""Fill-in-the-middle end to end: the daemon lays each token family's prompt out exactly as
its model card writes it (greedy through the daemon equals greedy on a hand-built prompt),
and ``suffix`` works over HTTP for FIM models and is refused, naming the model, for others."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from codegend.daemon.client.connect import open_client
from codegend.daemon.client_api import CompletionRequest
from codegend.daemon.config import load_config
from codegend.engine.loader import load_generator
from codegend.engine.model_spec import ModelSpec
from codegend.engine.types import SamplingParams
from tests.daemon.conftest import serve_in_thread, write_config
from tests.tiny_models import FIM_TOKENS, build_tiny_codegen

PREFIX = "def add(a, b):\n    return "
SUFFIX = "\n\nprint(add(1, 2))\n"
BUDGET = 8


@pytest.fixture(scope="module")
def fim_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fim")
    return {family: build_tiny_codegen(root / family, fim=family, seed=i)
            for i, family in enumerate(FIM_TOKENS)}


def _hand_built(tokenizer, family: str, order: str) -> list[int]:
    """Each family's layout as its model card writes it, token by token."""
    t, p, s = tokenizer.added_token_id, tokenizer.encode(PREFIX), tokenizer.encode(SUFFIX)
    if family == "starcoder" and order == "spm":
        return [t("<fim_prefix>"), t("<fim_suffix>"), *s, t("<fim_middle>"), *p]
    if family == "starcoder":
        return [t("<fim_prefix>"), *p, t("<fim_suffix>"), *s, t("<fim_middle>")]
    if family == "codegen2":
        return [*p, t("<mask_1>"), *s, t("<|endoftext|>"), t("<sep>"), t("<mask_1>")]
    return [t("<|fim_prefix|>"), *p, t("<|fim_suffix|>"), *s, t("<|fim_middle|>")]


@pytest.mark.asyncio
@pytest.mark.parametrize("family, order", [("starcoder", "auto"), ("starcoder", "psm"),
                                           ("codegen2", "auto"), ("qwen2.5-coder", "auto")])
async def test_greedy_through_the_daemon_equals_the_hand_built_prompt(
    fim_models, tmp_path, family, order
):
    source = fim_models[family]
    config = write_config(tmp_path / "c.yaml", (
        f"models:\n  - {{name: fim, source: '{source}', backend: torch, device: cpu, "
        f"fim: {order}, max_new_tokens: {BUDGET}}}\n"))
    client = await open_client(config, embedded=True)
    try:
        stream = client.stream(CompletionRequest(prefix=PREFIX, suffix=SUFFIX,
                                                 language="python"))
        through_daemon = "".join([chunk.text async for chunk in stream])
    finally:
        await client.aclose()
    expected_name = {"starcoder": f"starcoder-{'psm' if order == 'psm' else 'spm'}",
                     "codegen2": "codegen2", "qwen2.5-coder": "qwen2.5-coder"}[family]
    assert stream.model.fim_template == expected_name

    reference = load_generator(ModelSpec(source=str(source), backend="torch", device="cpu"))
    try:
        resolved_order = "spm" if expected_name == "starcoder-spm" else "psm"
        ids = _hand_built(reference.tokenizer, family, resolved_order)
        reference.fim_template = None  # the hand-built ids go in as they are
        wanted = reference.generate_ids(ids, SamplingParams(max_new_tokens=BUDGET))
        # Generation ends at the family's stop tokens, as the daemon's does.
        stops = {reference.tokenizer.added_token_id(t) for t in FIM_STOPS[family]}
        cut = next((i for i, token in enumerate(wanted) if token in stops), len(wanted))
        assert through_daemon == reference.tokenizer.decode(wanted[:cut])
        assert through_daemon, "the tiny model should write something to compare"
    finally:
        reference.close()


FIM_STOPS = {"starcoder": ("<|endoftext|>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>",
                           "<fim_pad>"),
             "codegen2": ("<eom>", "<|endoftext|>"),
             "qwen2.5-coder": ("<|endoftext|>", "<|fim_prefix|>", "<|fim_suffix|>",
                               "<|fim_middle|>", "<|fim_pad|>")}


def test_a_fim_model_stops_at_its_own_stop_tokens(fim_models):
    generator = load_generator(ModelSpec(source=str(fim_models["codegen2"]), backend="torch",
                                         device="cpu"))
    try:
        eom = generator.tokenizer.added_token_id("<eom>")
        assert eom in generator.stop_token_ids
        assert generator.tokenizer.eos_token_id in generator.stop_token_ids
    finally:
        generator.close()


def test_suffix_over_http_native_and_openai(fim_models, parrots, tmp_path):
    config = write_config(tmp_path / "c.yaml", (
        "server: {host: 127.0.0.1, port: 0}\n"
        "models:\n"
        f"  - {{name: fim, source: '{fim_models['starcoder']}', backend: torch, device: cpu,"
        f" max_new_tokens: {BUDGET}}}\n"
        f"  - {{name: plain, source: '{parrots['a']}', backend: torch, device: cpu,"
        f" max_new_tokens: {BUDGET}}}\n"
        "routes:\n  - {languages: [python], model: fim}\n  - {model: plain}\n"))
    with serve_in_thread(load_config(config)) as url:
        native = httpx.post(url + "/v1/codegend/complete", timeout=60, json={
            "prefix": PREFIX, "suffix": SUFFIX, "language": "python"}).json()
        assert native["model_info"]["fim_template"] == "starcoder-spm"
        openai = httpx.post(url + "/v1/completions", timeout=60, json={
            "model": "fim", "prompt": PREFIX, "suffix": SUFFIX, "max_tokens": BUDGET})
        assert openai.status_code == 200, openai.text
        assert openai.json()["choices"][0]["text"] == native["text"]
        alone = httpx.post(url + "/v1/codegend/complete", timeout=60, json={
            "prefix": PREFIX, "language": "python"}).json()
        assert alone["prompt_tokens"] < native["prompt_tokens"]  # the suffix is in the prompt
        refused = httpx.post(url + "/v1/completions", timeout=60, json={
            "model": "plain", "prompt": PREFIX, "suffix": SUFFIX})
        assert refused.status_code == 400
        assert "'plain'" in refused.json()["error"]["message"]
        # The native endpoint (an editor's) leaves a suffix out for a model without FIM.
        plain = httpx.post(url + "/v1/codegend/complete", timeout=60, json={
            "prefix": PREFIX, "suffix": SUFFIX, "language": "rust"}).json()
        assert plain["text"] == "a" * BUDGET and plain["model_info"]["fim_template"] is None
