"""The same document state gets the same suggestion, whatever was asked before.

With static INT8 (the default CPU recipe) every activation scale is fixed, so a position's
logits do not depend on which tokens were fed with it: reusing a KV prefix, feeding a prompt
in pieces, decoding token by token or verifying drafts all give the bits a fresh prefill
gives. The generation loop's KV reuse (within a document, across documents, through saved
sequences) then cannot change an answer.
"""

from __future__ import annotations

import numpy as np
import pytest

from codegend.engine.build.pipeline import build_onnx_model
from codegend.engine.loader import load_generator
from codegend.engine.model_source import resolve_model_source
from codegend.engine.model_spec import ModelSpec
from codegend.engine.onnx.stepper import OnnxStepper, create_session
from codegend.engine.placement import Placement, quantization_for
from codegend.engine.types import PromptParts, SamplingParams

STATIC = "static-int8:calibration_samples=4"
DOCUMENTS = {
    "a.py": "import os\n\ndef walk(root):\n    for name in os.listdir(root):\n        ",
    "b.py": "import os\n\ndef size(path):\n    return os.path.",
    "c.py": "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.",
    "d.py": "def add(a, b):\n    return a + b\n\ndef sub(a, b):\n    return ",
}


def test_the_default_cpu_recipe_is_static_int8():
    spec = ModelSpec()
    assert quantization_for(spec, Placement("onnx", "cpu", "")) == "static-int8"
    assert quantization_for(spec, Placement("onnx", "cuda", "")) == "none"


def test_static_int8_logits_do_not_depend_on_how_tokens_were_fed(tiny_codegen_dir):
    resolved = resolve_model_source(str(tiny_codegen_dir))
    graph = build_onnx_model(resolved, "static-int8", options={"calibration_samples": 4})
    stepper = OnnxStepper(create_session(graph.artifact.model_path, "cpu", 1),
                          resolved.max_positions)
    ids = np.random.default_rng(7).integers(1, resolved.vocab_size, 120).tolist()
    whole = stepper.feed_all(ids)
    for split in (1, 37, 119):
        stepper.truncate(0)
        pieces = np.concatenate([stepper.feed_all(ids[:split]), stepper.feed_all(ids[split:])])
        assert np.array_equal(pieces, whole), split
    stepper.truncate(100)  # reuse a prefix, then one token at a time
    steps = np.concatenate([stepper.feed_all([token]) for token in ids[100:]])
    assert np.array_equal(steps, whole[100:])


@pytest.fixture(scope="module")
def static_spec(tiny_codegen_dir) -> ModelSpec:
    return ModelSpec(source=str(tiny_codegen_dir), backend="onnx", device="cpu",
                     quantization=STATIC, threads=1)


def _answers(generator, order: list[str], keyed: bool) -> dict[str, str]:
    params = SamplingParams(max_new_tokens=12)
    answers = {}
    for name in order:
        key = f"file:///{name}" if keyed else None
        answers[name] = generator.generate(PromptParts(DOCUMENTS[name]), params,
                                           sequence_key=key).text()
    return answers


def test_answers_do_not_depend_on_the_order_of_earlier_requests(static_spec):
    fresh = {}
    for name in DOCUMENTS:  # each document asked first, on a model that saw nothing else
        generator = load_generator(static_spec)
        fresh.update(_answers(generator, [name], keyed=True))
        generator.close()
    generator = load_generator(static_spec)
    try:
        names = list(DOCUMENTS)
        orders = [names, names[::-1], names[1::2] + names[::2]]
        for keyed in (True, False):  # saved per-document caches, or one shared live cache
            for order in orders:
                assert _answers(generator, order + order[:2], keyed) == fresh
        # Typing in one document between the others: each state still gets its answer.
        typed = DOCUMENTS["d.py"]
        for cut in range(len(typed) - 6, len(typed) + 1, 2):
            state = PromptParts(typed[:cut])
            params = SamplingParams(max_new_tokens=8)
            in_between = generator.generate(state, params, sequence_key="file:///d.py").text()
            _answers(generator, ["a.py"], keyed=True)
            alone = load_generator(static_spec)
            assert alone.generate(state, params).text() == in_between
            alone.close()
    finally:
        generator.close()
