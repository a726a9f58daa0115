"""Speculative decoding: drafts verified in one pass give exactly the tokens of plain decoding.

Drafts are scripted from the plain greedy run, so each test knows which of them the model
must accept: all of them, the ones before a corrupted token, or none. Every backend that
verifies drafts is checked (the fused ONNX graph's shared in-place buffer, the same graph
through the static decode step, an unfused graph, the torch reference), then the
prompt lookup drafting from the prompt and from the suffix, and the fallback of a stepper
that cannot verify.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from codegend.engine.build.pipeline import build_onnx_model
from codegend.engine.generate import StepperGenerator
from codegend.engine.model_source import resolve_model_source
from codegend.engine.onnx.stepper import OnnxStepper, create_session
from codegend.engine.prompt_lookup import LookupConfig
from codegend.engine.tokenizer import load_tokenizer
from codegend.engine.torch.reference_stepper import open_torch_stepper
from codegend.engine.types import GenerationStats, PromptParts, SamplingParams
from tests.tiny_models import build_tiny_codegen

PROMPT = "def add(a, b):\n    return a + b\n\nclass Point:\n    def __init__(self"
NEW = 20


class ScriptedDrafter:
    """Drafts the plain run's next tokens; ``corrupt`` picks which draft positions (by
    index within a draft) are replaced by a token the model did not choose."""

    def __init__(self, prompt: Sequence[int], expected: Sequence[int], vocab: int,
                 corrupt: Sequence[int] = (), length: int = 4) -> None:
        self.reference = list(prompt) + list(expected)
        self.prompt_length = len(prompt)
        self.vocab = vocab
        self.corrupt = set(corrupt)
        self.length = length
        self.seen = 0

    def extend(self, token_ids: Sequence[int]) -> None:
        self.seen += len(token_ids)

    def draft(self, limit: int) -> list[int]:
        draft = self.reference[self.seen : self.seen + min(limit, self.length)]
        return [(t + 1) % self.vocab if i in self.corrupt else t for i, t in enumerate(draft)]


@pytest.fixture(scope="module")
def fused_model(tiny_codegen_dir):
    """Its attention is fused into GroupQueryAttention: the shared in-place KV buffer."""
    return resolve_model_source(str(tiny_codegen_dir))


@pytest.fixture(scope="module")
def unfused_model(tmp_path_factory):
    """Heads too narrow for the fused kernel: the exported graph's past/present tensors."""
    directory = build_tiny_codegen(tmp_path_factory.mktemp("narrow"), n_embd=32, n_head=4,
                                   rotary_dim=4)
    return resolve_model_source(str(directory))


def _onnx(resolved, static_decode: bool | None = None) -> OnnxStepper:
    graph = build_onnx_model(resolved, "none").artifact.model_path
    return OnnxStepper(create_session(graph, "cpu", threads=1), resolved.max_positions,
                       static_decode=static_decode)


def _generator(resolved, backend: str) -> StepperGenerator:
    if backend == "torch":
        stepper = open_torch_stepper(resolved)
    else:
        stepper = _onnx(resolved, static_decode=backend == "onnx-static")
    tokenizer = load_tokenizer(resolved.path, resolved.vocab_size)
    tokenizer.eos_token_id = None  # a random model must not end the comparison early
    return StepperGenerator(backend, stepper, tokenizer, resolved.max_positions)


def _fresh(generator: StepperGenerator) -> StepperGenerator:
    generator.stepper.truncate(0)
    generator._cached_ids = []
    return generator


@pytest.fixture(scope="module", params=["onnx", "onnx-static", "torch"])
def backends(request, fused_model):
    """(speculating generator, plain generator) on one backend, same weights."""
    speculating = _generator(fused_model, request.param)
    plain = _generator(fused_model, request.param)
    assert request.param == "torch" or speculating.stepper._shares_buffer
    plain.lookup = None
    return speculating, plain


@pytest.mark.parametrize("corrupt,accepted_per_draft", [((), 4), ((2,), 2), ((0,), 0)],
                         ids=["all-accepted", "partly-accepted", "all-rejected"])
def test_scripted_drafts_give_the_tokens_of_plain_greedy(backends, corrupt, accepted_per_draft):
    speculating, plain = backends
    prompt = speculating.tokenizer.encode(PROMPT)
    params = SamplingParams(max_new_tokens=NEW)
    expected = _fresh(plain).generate_ids(prompt, params)
    assert len(expected) == NEW
    stats = GenerationStats()
    drafter = ScriptedDrafter(prompt, expected, speculating.stepper.vocab_size, corrupt)
    got = _fresh(speculating).generate_ids(prompt, params, stats=stats, drafter=drafter)
    assert got == expected
    assert stats.generated_tokens == NEW
    # Each pass yields its accepted drafts plus one token.
    assert stats.forward_passes == -(-NEW // (accepted_per_draft + 1))
    # (At least: the last pass may end on the budget before its own choice is used.)
    assert stats.accepted_draft_tokens >= NEW - stats.forward_passes
    # The KV cache holds exactly the kept tokens: the next request reuses it correctly.
    assert speculating._cached_ids == (prompt + got)[: len(speculating._cached_ids)]
    assert speculating.stepper.cached_tokens == len(speculating._cached_ids)
    again = speculating.generate_ids(prompt + got[:5], SamplingParams(max_new_tokens=6))
    assert again == expected[5:11]


def test_an_unfused_graph_verifies_drafts_too(unfused_model):
    speculating, plain = _generator(unfused_model, "onnx"), _generator(unfused_model, "onnx")
    plain.lookup = None
    assert not speculating.stepper._shares_buffer
    prompt = speculating.tokenizer.encode(PROMPT)
    params = SamplingParams(max_new_tokens=NEW)
    expected = plain.generate_ids(prompt, params)
    drafter = ScriptedDrafter(prompt, expected, speculating.stepper.vocab_size, (3,))
    assert speculating.generate_ids(prompt, params, drafter=drafter) == expected


def test_prompt_lookup_on_repetitive_text_needs_fewer_passes(backends):
    """The real drafter: the prompt repeats, so what the model copies is drafted."""
    speculating, plain = backends
    text = "    self.x = x\n    self.y = y\n" * 6 + "    self.x = x\n    self"
    prompt = speculating.tokenizer.encode(text)
    params = SamplingParams(max_new_tokens=NEW)
    expected = _fresh(plain).generate_ids(prompt, params)
    stats = GenerationStats()
    assert _fresh(speculating).generate_ids(prompt, params, stats=stats) == expected
    assert stats.draft_tokens > 0
    assert stats.generated_tokens == NEW


def test_the_suffix_feeds_the_lookup_and_keeps_the_output(fused_model):
    generator = _generator(fused_model, "onnx")
    generator.tokenizer.eos_token_id = None
    prompt = "import os\n\ndef main("
    plain = _generator(fused_model, "onnx")
    plain.lookup = None
    params = SamplingParams(max_new_tokens=12)
    expected = plain.generate(prompt, params)
    expected_text = expected.text()
    # A suffix that holds the exact continuation: every draft is accepted.
    suffix = prompt[-6:] + expected_text
    generation = generator.generate(PromptParts(prompt, suffix=suffix), params)
    assert generation.text() == expected_text
    assert generation.stats.accepted_draft_tokens > 0
    assert generation.stats.forward_passes < expected.stats.forward_passes


@pytest.mark.parametrize("corrupt", [(), (1,), (0,)])
def test_seeded_sampling_with_drafts_is_the_stream_of_plain_sampling(backends, corrupt):
    """A position's token is drawn as plain decoding draws it and the draft is accepted when
    they agree: the acceptance rule for a deterministic draft, and the same seeded stream."""
    speculating, plain = backends
    prompt = speculating.tokenizer.encode(PROMPT)
    params = SamplingParams(max_new_tokens=NEW, temperature=0.9, top_p=0.95, seed=7)
    expected = _fresh(plain).generate_ids(prompt, params)
    stats = GenerationStats()
    drafter = ScriptedDrafter(prompt, expected, speculating.stepper.vocab_size, corrupt)
    got = _fresh(speculating).generate_ids(prompt, params, stats=stats, drafter=drafter)
    assert got == expected
    assert stats.draft_tokens > 0 and (stats.accepted_draft_tokens > 0) == (0 not in corrupt)


class _FeedOnly:
    """A stepper without ``feed_tail`` (like the tensor-parallel group)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.vocab_size, self.max_positions = inner.vocab_size, inner.max_positions
        self.failure = None
        self.widths: list[int] = []

    @property
    def cached_tokens(self) -> int:
        return self.inner.cached_tokens

    def truncate(self, length: int) -> None:
        self.inner.truncate(length)

    def feed(self, token_ids: list[int]) -> np.ndarray:
        self.widths.append(len(token_ids))
        return self.inner.feed(token_ids)

    def snapshot(self):
        return None


def test_a_stepper_that_cannot_verify_decodes_one_token_per_pass(fused_model):
    generator = _generator(fused_model, "onnx")
    wrapped = _FeedOnly(generator.stepper)
    plain = StepperGenerator("feed-only", wrapped, generator.tokenizer, generator.context_tokens)
    prompt = generator.tokenizer.encode(PROMPT)
    params = SamplingParams(max_new_tokens=8)
    expected = _fresh(generator).generate_ids(prompt, params)
    stats = GenerationStats()
    drafter = ScriptedDrafter(prompt, expected, wrapped.vocab_size)
    assert plain.generate_ids(prompt, params, stats=stats, drafter=drafter) == expected
    assert wrapped.widths[1:] == [1] * 7 and stats.draft_tokens == 0


def test_the_cuda_graph_decode_step_keeps_speculation_off(fused_model):
    stepper = _onnx(fused_model, static_decode=True)
    assert stepper.verifies_drafts  # uncaptured on the CPU: drafts go the several-token way
    stepper.decode_graph.capture = True  # what a CUDA-graph session would have
    assert not stepper.verifies_drafts


def test_lookup_config_rejects_nonsense():
    with pytest.raises(ValueError):
        LookupConfig(max_draft_tokens=0)
    with pytest.raises(ValueError):
        LookupConfig(min_ngram=3, max_ngram=2)


def test_what_the_cache_generated_before_is_drafted_once_it_is_typed(fused_model):
    """Typing (or accepting) the start of a suggestion: the rest of the previous generation
    still sits in the KV cache and is drafted from there, whole passes at a time."""
    speculating, plain = _generator(fused_model, "onnx"), _generator(fused_model, "onnx")
    plain.lookup = None
    prompt = speculating.tokenizer.encode(PROMPT)
    first = speculating.generate_ids(prompt, SamplingParams(max_new_tokens=NEW))
    typed = prompt + first[:3]
    params = SamplingParams(max_new_tokens=NEW - 4)
    stats = GenerationStats()
    assert speculating.generate_ids(typed, params, stats=stats) == \
        plain.generate_ids(typed, params) == first[3 : NEW - 1]
    assert stats.forward_passes <= 4 < stats.generated_tokens


def test_the_model_spec_sets_the_draft_length_or_turns_it_off(tiny_codegen_dir):
    from codegend.engine.loader import load_generator
    from codegend.engine.model_spec import ModelSpec

    def spec(draft_tokens: int) -> ModelSpec:
        return ModelSpec(source=str(tiny_codegen_dir), backend="onnx", device="cpu",
                         quantization="none", threads=1, draft_tokens=draft_tokens)

    assert load_generator(spec(0)).lookup is None
    short = load_generator(spec(2)).lookup
    assert short.max_draft_tokens == 2 and short.initial_draft_tokens == 2
