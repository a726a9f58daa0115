"""Token healing: a prompt ending inside a usual token continues with a token that starts
with what was typed, and the emitted text continues exactly where the prompt ends."""

from __future__ import annotations

import pytest

from codegend.engine.loader import load_generator
from codegend.engine.model_spec import ModelSpec
from codegend.engine.token_healing import TokenHealer
from codegend.engine.types import SamplingParams


@pytest.fixture(scope="module")
def generator(tiny_codegen_dir):
    return load_generator(ModelSpec(source=str(tiny_codegen_dir), backend="onnx", device="cpu",
                                    quantization="none", threads=1))


def test_a_trailing_space_is_healed_into_the_tokens_that_start_with_it(generator):
    tokenizer = generator.tokenizer
    ids = tokenizer.encode("import ")
    healing = TokenHealer(tokenizer).heal(ids)
    assert healing is not None
    assert healing.removed_text == tokenizer.decode(ids[-1:]) == " "
    assert healing.prompt_ids == ids[:-1]
    texts = [tokenizer.decode([int(i)]) for i in healing.allowed_first]
    assert len(texts) > 1 and all(t.startswith(" ") for t in texts)
    assert ids[-1] in healing.allowed_first.tolist()


def test_a_token_nothing_extends_is_left_alone(generator):
    tokenizer = generator.tokenizer
    healer = TokenHealer(tokenizer)
    assert healer.heal(tokenizer.encode("x")) is None  # a one-token prompt
    # The longest token of the vocabulary can have no longer token starting with it.
    longest = max(range(tokenizer.vocab_size), key=lambda i: len(tokenizer.decode([i])))
    assert healer.heal(tokenizer.encode("a") + [longest]) is None


@pytest.mark.parametrize("prompt", ["import ", "def ad", "class Po", "    return a "])
def test_healed_generation_continues_exactly_where_the_prompt_ends(generator, prompt):
    generation = generator.generate(prompt, SamplingParams(max_new_tokens=8,
                                                           token_healing=True))
    tokens = list(generation)
    text = "".join(t.text for t in tokens)
    ids = generator.tokenizer.encode(prompt)
    healing = TokenHealer(generator.tokenizer).heal(ids)
    kept = healing.prompt_ids if healing else ids
    produced = [t.token_id for t in tokens if t.token_id >= 0]
    # Prompt (minus the healed token) + generated tokens decode to prompt + emitted text
    # (an unfinished UTF-8 sequence at the very end is held back, never emitted).
    assert generator.tokenizer.decode(kept + produced).rstrip("\ufffd") == prompt + text
    if healing:
        assert produced[0] in healing.allowed_first.tolist()


def test_healing_is_off_unless_asked_for(generator):
    prompt_ids = generator.tokenizer.encode("import ")
    raw = generator.generate("import ", SamplingParams(max_new_tokens=4))
    list(raw)
    healed = generator.generate("import ", SamplingParams(max_new_tokens=4, token_healing=True))
    list(healed)
    assert raw.stats.prompt_tokens == len(prompt_ids)  # the trailing space token stays
    assert healed.stats.prompt_tokens == len(prompt_ids) - 1  # it is backed up
