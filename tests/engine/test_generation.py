"""The generation loop: greedy parity with torch, prefix reuse, cancellation, stop rules."""

from __future__ import annotations

import threading

import pytest
import torch

from codegend.engine.generate import StepperGenerator
from codegend.engine.loader import load_generator
from codegend.engine.model_source import resolve_model_source
from codegend.engine.model_spec import ModelSpec
from codegend.engine.torch.reference_stepper import load_torch_model
from codegend.engine.types import CancelToken, SamplingParams

PROMPTS = ["def add(a, b):\n", "class Point:\n    def __init__(self", "import os\nfor item in"]


@pytest.fixture(scope="module")
def onnx_fp32(tiny_codegen_dir) -> StepperGenerator:
    return load_generator(ModelSpec(source=str(tiny_codegen_dir), backend="onnx",
                                    device="cpu", quantization="none", threads=1))


@pytest.fixture(scope="module")
def hf_model(tiny_codegen_dir):
    return load_torch_model(resolve_model_source(str(tiny_codegen_dir)))


def _hf_greedy(model, prompt_ids: list[int], steps: int) -> list[int]:
    with torch.inference_mode():
        out = model.generate(torch.tensor([prompt_ids]), max_new_tokens=steps, do_sample=False,
                             min_new_tokens=steps, pad_token_id=0)
    return out[0, len(prompt_ids):].tolist()


@pytest.mark.parametrize("prompt", PROMPTS)
def test_onnx_greedy_equals_transformers_greedy_token_for_token(onnx_fp32, hf_model, prompt):
    ids = onnx_fp32.tokenizer.encode(prompt)
    onnx_fp32.stepper.truncate(0)
    onnx_fp32._cached_ids = []
    ours = onnx_fp32.generate_ids(ids, SamplingParams(max_new_tokens=24))
    # EOS ends our loop early; compare the common length, which must be all of ours.
    reference = _hf_greedy(hf_model, ids, 24)
    assert ours == reference[: len(ours)] and len(ours) >= 1


def _cold_run(tiny_codegen_dir, ids, params) -> list[int]:
    cold = load_generator(ModelSpec(source=str(tiny_codegen_dir), backend="onnx", device="cpu",
                                    quantization="none", threads=1))
    return cold.generate_ids(ids, params)


@pytest.mark.parametrize("shared", ["none", "some", "all"])
def test_prefix_reuse_gives_the_tokens_of_a_cold_run(onnx_fp32, tiny_codegen_dir, shared):
    params = SamplingParams(max_new_tokens=12)
    first = onnx_fp32.tokenizer.encode("def add(a, b):\n    return a + b\n\ndef sub(")
    second = {
        "none": onnx_fp32.tokenizer.encode("class Point:\n    x = 1\n"),
        "some": first[:-3] + onnx_fp32.tokenizer.encode("mul(a"),
        "all": list(first),
    }[shared]
    onnx_fp32.generate_ids(first, params)  # the KV cache now holds `first` and its output
    cached = list(onnx_fp32._cached_ids)
    reused = onnx_fp32.generate_ids(second, params)
    assert reused == _cold_run(tiny_codegen_dir, second, params)
    shares_prefix = cached[0] == second[0]
    assert shares_prefix == (shared != "none")


def test_typing_one_more_character_feeds_only_the_new_tokens(onnx_fp32):
    onnx_fp32.generate_ids(onnx_fp32.tokenizer.encode("import os\nimport sys\n"),
                           SamplingParams(max_new_tokens=4))
    generation = onnx_fp32.generate("import os\nimport sys\nf", SamplingParams(max_new_tokens=4))
    list(generation)
    stats = generation.stats
    assert stats.prompt_tokens - stats.reused_prefix_tokens <= 2
    assert stats.reused_prefix_tokens >= stats.prompt_tokens - 2


class _CountingStepper:
    """Wraps a stepper to count feeds and fire a cancel token from 'another request'."""

    def __init__(self, inner, cancel_after: int, token: CancelToken) -> None:
        self.inner, self.cancel_after, self.token = inner, cancel_after, token
        self.vocab_size, self.max_positions = inner.vocab_size, inner.max_positions
        self.feeds = 0
        self.feeds_after_cancel = 0

    @property
    def cached_tokens(self):
        return self.inner.cached_tokens

    @property
    def failure(self):
        return self.inner.failure

    def restart(self):
        self.inner.restart()

    def truncate(self, length):
        self.inner.truncate(length)

    def feed(self, ids):
        if self.token.cancelled:
            self.feeds_after_cancel += 1
        self.feeds += 1
        if self.feeds == self.cancel_after:
            threading.Thread(target=self.token.cancel).start()
        return self.inner.feed(ids)

    def close(self):
        self.inner.close()


def test_cancellation_stops_within_one_step_and_the_session_stays_usable(onnx_fp32):
    token = CancelToken()
    counting = _CountingStepper(onnx_fp32.stepper, cancel_after=3, token=token)
    generator = StepperGenerator("t", counting, onnx_fp32.tokenizer, onnx_fp32.context_tokens)
    generation = generator.generate("def add(a, b):\n", SamplingParams(max_new_tokens=50), token)
    produced = list(generation)
    assert generation.stats.finish_reason == "cancelled"
    assert counting.feeds_after_cancel <= 1
    assert len(produced) <= 4
    after = generator.generate("def add(a, b):\n", SamplingParams(max_new_tokens=5))
    assert len(list(after)) >= 1 and after.stats.finish_reason in ("length", "eos")


def test_stop_strings_cut_the_text_and_never_stream_past_them(onnx_fp32):
    free = onnx_fp32.generate("def add(a, b):\n", SamplingParams(max_new_tokens=16)).text()
    assert len(free) >= 4
    stop = free[2:4]
    expected = free[: free.index(stop)]
    generation = onnx_fp32.generate("def add(a, b):\n",
                                    SamplingParams(max_new_tokens=16, stop=(stop,)))
    assert generation.text() == expected
    assert generation.stats.finish_reason == "stop"


def test_sampling_with_a_seed_is_reproducible_and_reports_logprobs(onnx_fp32):
    params = SamplingParams(max_new_tokens=10, temperature=0.8, top_p=0.9, seed=42)
    first = list(onnx_fp32.generate("class Point:\n", params))
    second = list(onnx_fp32.generate("class Point:\n", params))
    assert [t.token_id for t in first] == [t.token_id for t in second]
    assert all(t.logprob <= 0.0 for t in first)


@pytest.mark.parametrize("temperature", [5e-324, 1e-6, 1e-30])
def test_a_vanishing_temperature_is_greedy_not_nan(onnx_fp32, temperature):
    greedy = onnx_fp32.generate_ids(onnx_fp32.tokenizer.encode("def f("),
                                    SamplingParams(max_new_tokens=6))
    tiny = onnx_fp32.generate_ids(onnx_fp32.tokenizer.encode("def f("),
                                  SamplingParams(max_new_tokens=6, temperature=temperature,
                                                 seed=1))
    assert tiny == greedy


def test_interleaved_documents_each_keep_their_prefix_reuse(tiny_codegen_dir):
    generator = load_generator(ModelSpec(source=str(tiny_codegen_dir), backend="onnx",
                                         device="cpu", quantization="none", threads=1,
                                         kv_cache_sequences=3))
    params = SamplingParams(max_new_tokens=3)
    documents = {"a.py": "import os\nimport sys\n\ndef main(", "b.py": "class Point:\n    x = 1\n",
                 "c.py": "for item in items:\n    print("}
    for key, text in documents.items():
        list(generator.generate(text, params, sequence_key=key))
    for key, text in documents.items():  # one more character typed in each, in turn
        generation = generator.generate(text + "a", params, sequence_key=key)
        tokens = [t.token_id for t in generation]
        stats = generation.stats
        assert stats.prompt_tokens - stats.reused_prefix_tokens <= 2, key
        cold = load_generator(ModelSpec(source=str(tiny_codegen_dir), backend="onnx",
                                        device="cpu", quantization="none", threads=1))
        assert tokens == [t.token_id for t in cold.generate(text + "a", params)], key


def test_the_oldest_document_sequence_is_dropped_beyond_capacity(tiny_codegen_dir):
    generator = load_generator(ModelSpec(source=str(tiny_codegen_dir), backend="onnx",
                                         device="cpu", quantization="none", threads=1,
                                         kv_cache_sequences=2))
    params = SamplingParams(max_new_tokens=2)
    texts = {"a": "import os\nimport sys\n", "b": "class Point:\n", "c": "while True:\n"}
    for key, text in texts.items():
        list(generator.generate(text, params, sequence_key=key))
    # Live: "c"; saved: "b" only ("a" was the least recently used when "c" arrived).
    recent = generator.generate(texts["b"] + "x", params, sequence_key="b")
    list(recent)
    assert recent.stats.reused_prefix_tokens > 0
    evicted = generator.generate(texts["a"] + "x", params, sequence_key="a")
    list(evicted)
    assert evicted.stats.reused_prefix_tokens == 0  # nothing saved for "a"; "b" shares nothing
