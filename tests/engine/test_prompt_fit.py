"""The budget cut and the FIM layout, made once in the engine with the model's tokenizer:
exact prompts for each token family, whole lines within the budget, context only when
the whole prefix fits, and the tokenizer read without transformers."""

from __future__ import annotations

from pathlib import Path

import pytest

from codegend.engine.fim import FIM_TEMPLATES, fim_template_for
from codegend.engine.prompt_fit import MIN_CONTEXT_TOKENS, SUFFIX_SHARE, fit_prompt
from codegend.engine.tokenizer import Tokenizer, load_tokenizer
from codegend.engine.types import PromptParts
from tests.tiny_models import FIM_TOKENS, build_tiny_tokenizer

PREFIX = "def add(a, b):\n    return a"
SUFFIX = "\n\nprint(add(1, 2))\n"
LONG = "".join(f"value_{i} = {i}\n" for i in range(300))


@pytest.fixture(scope="module", params=[None, *FIM_TOKENS])
def family(request) -> str | None:
    return request.param


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory, family) -> Tokenizer:
    directory = tmp_path_factory.mktemp(f"tok-{family}")
    hf = build_tiny_tokenizer(directory, fim=family)
    return load_tokenizer(Path(directory), len(hf))


def _by_hand(tokenizer: Tokenizer, name: str, prefix: str, suffix: str) -> list[int]:
    """The layouts as the families' model cards write them, token by token."""
    t, enc = tokenizer.added_token_id, tokenizer.encode
    p, s = enc(prefix), enc(suffix)
    return {
        "starcoder-spm": [t("<fim_prefix>"), t("<fim_suffix>"), *s, t("<fim_middle>"), *p],
        "starcoder-psm": [t("<fim_prefix>"), *p, t("<fim_suffix>"), *s, t("<fim_middle>")],
        "codegen2": [*p, t("<mask_1>"), *s, t("<|endoftext|>"), t("<sep>"), t("<mask_1>")],
        "qwen2.5-coder": [t("<|fim_prefix|>"), *p, t("<|fim_suffix|>"), *s,
                          t("<|fim_middle|>")],
    }[name]


def test_each_family_gets_its_template_and_the_exact_prompt(tokenizer, family):
    template = fim_template_for(tokenizer.added_tokens)
    expected = {None: None, "starcoder": "starcoder-spm", "codegen2": "codegen2",
                "qwen2.5-coder": "qwen2.5-coder"}[family]
    assert (template.name if template else None) == expected
    fitted = fit_prompt(PromptParts(PREFIX, SUFFIX), tokenizer, 200, template)
    if template is None:  # no FIM: the prefix alone, the suffix left out
        assert fitted.ids == tokenizer.encode(PREFIX) and fitted.template is None
        return
    assert fitted.ids == _by_hand(tokenizer, template.name, PREFIX, SUFFIX)
    assert fitted.prefix_last == (template.name == "starcoder-spm")
    psm = fim_template_for(tokenizer.added_tokens, "psm")
    if family == "starcoder":
        assert psm.name == "starcoder-psm"
        psm_ids = fit_prompt(PromptParts(PREFIX, SUFFIX), tokenizer, 200, psm).ids
        assert psm_ids == _by_hand(tokenizer, "starcoder-psm", PREFIX, SUFFIX)
    assert fim_template_for(tokenizer.added_tokens, "none") is None


def test_without_a_suffix_even_a_fim_model_continues_the_prefix(tokenizer):
    template = fim_template_for(tokenizer.added_tokens)
    fitted = fit_prompt(PromptParts(PREFIX), tokenizer, 200, template)
    assert fitted.ids == tokenizer.encode(PREFIX) and fitted.template is None


def test_a_whole_document_start_begins_with_the_separator_as_in_training(tokenizer):
    template = fim_template_for(tokenizer.added_tokens)
    bos = tokenizer.bos_token_id
    start = fit_prompt(PromptParts(PREFIX, document_start=True), tokenizer, 200, template)
    assert start.ids == [bos, *tokenizer.encode(PREFIX)]
    # Cut to the budget, the prompt no longer starts the document: no separator.
    cut = fit_prompt(PromptParts(LONG, document_start=True), tokenizer, 60, template)
    assert cut.ids[0] != bos and len(cut.ids) <= 60
    # Exactly at the budget there is no room for it; context pieces come before the prefix.
    exact = len(tokenizer.encode(PREFIX))
    assert fit_prompt(PromptParts(PREFIX, document_start=True), tokenizer, exact,
                      template).ids == tokenizer.encode(PREFIX)
    with_context = fit_prompt(PromptParts(PREFIX, context=("# from b.py\nx = 1\n",),
                                          document_start=True), tokenizer, 200, template)
    assert bos not in with_context.ids[:1]
    if template is not None:  # a fill-in-the-middle layout keeps its own start
        infill = fit_prompt(PromptParts(PREFIX, SUFFIX, document_start=True), tokenizer, 200,
                            template)
        assert infill.ids == _by_hand(tokenizer, template.name, PREFIX, SUFFIX)


def test_the_cut_keeps_whole_lines_within_the_budget(tokenizer):
    template = fim_template_for(tokenizer.added_tokens)
    parts = PromptParts(LONG + "x = ", LONG)
    for budget in (40, 100, 257):
        fitted = fit_prompt(parts, tokenizer, budget, template)
        assert len(fitted.ids) <= budget
        kept_prefix = parts.prefix[-fitted.prefix_chars:]
        assert kept_prefix.startswith("value_") and kept_prefix.endswith("x = ")
        if template is None:
            assert fitted.suffix_chars == 0
            continue
        kept_suffix = parts.suffix[:fitted.suffix_chars]
        assert kept_suffix.startswith("value_0 = 0") and not kept_suffix.endswith("\n")
        assert len(tokenizer.encode(kept_suffix)) <= int(
            (budget - len(template.control_tokens)) * SUFFIX_SHARE)
        # Nothing more fits: one more line of prefix would break the budget.
        longer = parts.prefix[-fitted.prefix_chars - len("value_299 = 299\n"):]
        rest = budget - len(template.control_tokens) - len(tokenizer.encode(kept_suffix))
        assert len(tokenizer.encode(longer)) > rest


def test_a_line_longer_than_the_budget_is_cut_at_a_token(tokenizer):
    huge = "x = [" + ", ".join(str(i) for i in range(2000))
    fitted = fit_prompt(PromptParts(huge), tokenizer, 50, None)
    assert len(fitted.ids) == 50 and fitted.ids == tokenizer.encode(huge)[-50:]


def test_context_goes_first_only_when_the_whole_prefix_fits(tokenizer):
    context = ("# recent.py\ndef recent():\n    pass\n\n", "# old.py\nOLD = 1\n\n")
    fitted = fit_prompt(PromptParts("import os\nx = ", context=context), tokenizer, 200, None)
    assert fitted.context_pieces == 2
    assert tokenizer.decode(fitted.ids) == context[1] + context[0] + "import os\nx = "
    tight = fit_prompt(PromptParts(LONG, context=context), tokenizer, 200, None)
    assert tight.context_pieces == 0
    # A prefix that fits but leaves less than MIN_CONTEXT_TOKENS spare takes none either.
    prefix = "x = 1\n" * 200
    budget = len(tokenizer.encode(prefix)) + MIN_CONTEXT_TOKENS - 1
    assert fit_prompt(PromptParts(prefix, context=context), tokenizer, budget,
                      None).context_pieces == 0


def test_every_template_names_its_stop_tokens_and_prefix_slot():
    for template in FIM_TEMPLATES:
        assert template.stop_tokens and template.layout.count("{prefix}") == 1
        assert template.render("P", "S").count("P") >= 1


def test_the_tokenizer_equals_transformers_without_importing_it(tmp_path):
    """Same ids and text as AutoTokenizer (what serving used before) on code, specials
    and non-ASCII text."""
    from transformers import AutoTokenizer

    build_tiny_tokenizer(tmp_path, fim="starcoder")
    ours = load_tokenizer(tmp_path, 10_000)
    theirs = AutoTokenizer.from_pretrained(str(tmp_path))
    assert (ours.eos_token_id, ours.bos_token_id, ours.vocab_size) == (
        theirs.eos_token_id, theirs.bos_token_id, len(theirs))
    for text in (LONG, "naïve = 'héllo' # ✓\n\t\tx", "a <fim_prefix> b<|endoftext|>", ""):
        ids = ours.encode(text)
        assert ids == theirs.encode(text, add_special_tokens=False)
        assert ours.decode(ids) == theirs.decode(ids, skip_special_tokens=False,
                                                 clean_up_tokenization_spaces=False)
    _, starts = ours.encode_with_offsets("ab\ncd é")
    assert starts[0] == 0 and all(a <= b for a, b in zip(starts, starts[1:], strict=False))


def test_a_cut_prefix_starts_at_a_paragraph_and_stays_there_while_typing(tokenizer):
    """Typing appends to the prefix; a start that moved with every line would change every
    token after it. A paragraph start a little further on stays put for several lines."""
    paragraphs = "".join(f"def f{i}(x):\n    y = x + {i}\n    return y * {i}\n\n"
                         for i in range(60))
    budget = 200
    starts = []
    for typed in range(12):  # the user types a new line of code at the end, line by line
        prefix = paragraphs + "".join(f"z{j} = f{j}(1)\n" for j in range(typed)) + "z = "
        fitted = fit_prompt(PromptParts(prefix), tokenizer, budget, None)
        kept = prefix[-fitted.prefix_chars:]
        assert kept.startswith("def f") and len(fitted.ids) <= budget
        assert prefix[-fitted.prefix_chars - 2:-fitted.prefix_chars] == "\n\n"  # a paragraph
        starts.append(len(prefix) - fitted.prefix_chars)
    assert len(set(starts)) < len(starts) // 2  # the start moved far less often than typed
