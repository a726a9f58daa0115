"""The lead's generation loop driving a 2-rank group: greedy output equals transformers'.

One group serves every assertion here: plain greedy completion, prefix reuse on a second
request, and a cancelled generation followed by a correct one.
"""

from __future__ import annotations

import pytest
import torch

from codegend.engine.generate import StepperGenerator
from codegend.engine.model_source import resolve_model_source
from codegend.engine.tokenizer import load_tokenizer
from codegend.engine.torch.reference_stepper import open_torch_stepper
from codegend.engine.torch.tp_stepper import open_tp_stepper
from codegend.engine.types import CancelToken, SamplingParams
from tests.tiny_models import build_tiny_codegen

GREEDY = SamplingParams(max_new_tokens=12, temperature=0.0)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_codegen(tmp_path_factory.mktemp("tp-generate"), n_head=8, n_embd=64,
                              rotary_dim=8, seed=3)


@pytest.fixture(scope="module")
def tp_generator(model_dir):
    tokenizer = load_tokenizer(model_dir, resolve_model_source(str(model_dir)).vocab_size)
    stepper = open_tp_stepper(model_dir, world_size=2, device="cpu")
    generator = StepperGenerator("tp", stepper, tokenizer, context_tokens=128)
    yield generator
    generator.close()


def hf_greedy(model_dir, prompt_ids: list[int], max_new_tokens: int) -> list[int]:
    from transformers import CodeGenForCausalLM

    model = CodeGenForCausalLM.from_pretrained(str(model_dir)).eval()
    eos = model.config.eos_token_id
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt_ids]), do_sample=False,
                             max_new_tokens=max_new_tokens, eos_token_id=eos, pad_token_id=eos)
    new = out[0, len(prompt_ids):].tolist()
    return new[: new.index(eos)] if eos in new else new  # the loop stops before eos


def test_greedy_tokens_equal_transformers_generate(model_dir, tp_generator):
    prompt = tp_generator.tokenizer.encode("def add(a, b):\n    return")
    got = tp_generator.generate_ids(prompt, GREEDY)
    assert got == hf_greedy(model_dir, prompt, GREEDY.max_new_tokens)
    assert len(got) >= 3  # a meaningful comparison, not an immediate eos


def test_greedy_text_equals_the_torch_backend(model_dir, tp_generator):
    # What `--backend torch-tp --world-size 2` and `--backend torch` print must be the same.
    text = "class Point:\n    def __init__(self, x, y):\n"
    reference = StepperGenerator(
        "torch", open_torch_stepper(resolve_model_source(str(model_dir))),
        tp_generator.tokenizer, context_tokens=128,
    )
    try:
        want = reference.generate(text, GREEDY)
        want_tokens = list(want)
        got = tp_generator.generate(text, GREEDY)
        got_tokens = list(got)
    finally:
        reference.close()
    assert [t.token_id for t in got_tokens] == [t.token_id for t in want_tokens]
    assert "".join(t.text for t in got_tokens) == "".join(t.text for t in want_tokens)
    for mine, theirs in zip(got_tokens, want_tokens, strict=True):
        assert mine.logprob == pytest.approx(theirs.logprob, abs=1e-4)


def test_prefix_reuse_feeds_only_the_new_tokens(model_dir, tp_generator):
    first = tp_generator.tokenizer.encode("import os\nimport sys\n\nfor item in items:\n")
    tp_generator.generate_ids(first, GREEDY)
    second = first + tp_generator.tokenizer.encode("    print(")
    generation = tp_generator.generate(tp_generator.tokenizer.decode(second), GREEDY)
    got = [t.token_id for t in generation if t.token_id >= 0]
    assert generation.stats.reused_prefix_tokens >= len(first) - 1
    assert got == hf_greedy(model_dir, tp_generator.tokenizer.encode(
        tp_generator.tokenizer.decode(second)), GREEDY.max_new_tokens)


def test_cancel_stops_every_rank_between_steps_and_the_group_keeps_serving(
    model_dir, tp_generator
):
    cancel = CancelToken()
    prompt = tp_generator.tokenizer.encode("if value is None:\n")
    generation = tp_generator.generate(tp_generator.tokenizer.decode(prompt),
                                       SamplingParams(max_new_tokens=40), cancel)
    tokens = iter(generation)
    next(tokens)
    cancel.cancel()
    rest = list(tokens)
    assert generation.stats.finish_reason == "cancelled"
    assert len(rest) <= 1  # at most the token whose step was already running
    assert tp_generator.stepper.healthy
    after = tp_generator.generate_ids(prompt, GREEDY)
    assert after == hf_greedy(model_dir, prompt, GREEDY.max_new_tokens)
