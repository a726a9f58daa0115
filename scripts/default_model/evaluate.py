"""Held-out evaluation of an exported model directory.

Two measures, both on files the model never trained on:
- perplexity of the held-out token stream, in windows of the training context length;
- next-line completion: at sampled line starts, greedy-complete one line from the code
  before it and compare with the real line (exact match and difflib similarity), side by
  side with the baseline "repeat the previous non-blank line" on the same positions.
"""

from __future__ import annotations

import difflib
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .corpus import SourceFile

MAX_NEW_TOKENS = 48
POSITION_SEED = 20240601

SAMPLE_PROMPTS = (
    "def __init__(self",
    "import ",
    "from collections import ",
    "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n",
    "for i in range(",
    "if __name__ == ",
    "def read_lines(path):\n    with open(path) as f:\n",
    "try:\n    value = int(text)\nexcept ",
    "    def __repr__(self):\n        return ",
    "def is_even(n):\n    \"\"\"",
)


@dataclass(frozen=True)
class LineScore:
    exact_match: float
    edit_similarity: float


@dataclass(frozen=True)
class EvaluationReport:
    perplexity: float
    held_out_tokens: int
    held_out_bytes: int
    bits_per_byte: float
    context_tokens: int
    positions: int
    model: LineScore
    baseline: LineScore
    samples: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def load_model(model_dir: Path):
    from transformers import AutoTokenizer, CodeGenForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = CodeGenForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    return tokenizer, model.eval()


def held_out_perplexity(model, tokenizer, files: Sequence[SourceFile], context: int):
    """exp(mean next-token loss) over non-overlapping windows of the packed held-out files."""
    eot = tokenizer.eos_token_id
    stream = [eot]
    for source in files:
        stream.extend(tokenizer(source.text)["input_ids"])
        stream.append(eot)
    total_loss, predicted = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(stream) - 1, context):
            window = torch.tensor([stream[start : start + context + 1]])
            if window.shape[1] < 2:
                break
            logits = model(input_ids=window[:, :-1]).logits
            loss = torch.nn.functional.cross_entropy(
                logits[0].float(), window[0, 1:], reduction="sum"
            )
            total_loss += loss.item()
            predicted += window.shape[1] - 1
    held_out_bytes = sum(len(f.text.encode("utf-8")) + 1 for f in files)
    bits_per_byte = total_loss / math.log(2) / held_out_bytes
    return math.exp(total_loss / predicted), predicted, held_out_bytes, bits_per_byte


def line_positions(files: Sequence[SourceFile], count: int) -> list[tuple[SourceFile, int]]:
    """Deterministic sample of (file, line index): non-blank lines after a non-blank line."""
    candidates = []
    for source in files:
        lines = source.text.split("\n")
        for index in range(1, len(lines)):
            if lines[index].strip() and _previous_code_line(lines, index) is not None:
                candidates.append((source, index))
    rng = random.Random(POSITION_SEED)
    return rng.sample(candidates, min(count, len(candidates)))


def _previous_code_line(lines: list[str], index: int) -> str | None:
    for previous in reversed(lines[:index]):
        if previous.strip():
            return previous
    return None


def _newline_token_ids(tokenizer) -> list[int]:
    """Every token whose text holds a newline: generation stops at the end of the line."""
    ids = [tokenizer.eos_token_id]
    for token_id in range(len(tokenizer)):
        if "\n" in tokenizer.decode([token_id]):
            ids.append(token_id)
    return ids


def complete(model, tokenizer, prompt: str, max_new_tokens: int, context: int, stop_ids) -> str:
    """Greedy continuation from at most `context` prompt tokens (fewer if the prompt plus
    max_new_tokens would pass the model's n_positions)."""
    keep = min(context, model.config.n_positions - max_new_tokens)
    assert keep > 0, "n_positions leaves no room for a prompt"
    ids = tokenizer(prompt)["input_ids"][-keep:]
    input_ids = torch.tensor([ids])
    with torch.inference_mode():
        output = model.generate(
            input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=stop_ids,
            pad_token_id=tokenizer.eos_token_id,
        )
    return tokenizer.decode(output[0, len(ids) :], skip_special_tokens=True)


def complete_healed(model, tokenizer, prompt: str, max_new_tokens: int, context: int) -> str:
    """Like complete, with token healing for a prompt that ends in one space.

    The BPE attaches a space to the word after it (" os"), so in training a lone " " token
    is almost never followed by a word; `import ` would be continued as if the space were
    the whole gap. Backing off the space and letting only tokens that start with a space
    come first asks the model the question it was trained on.
    """
    if not prompt.endswith(" ") or prompt.endswith("  "):
        return complete(model, tokenizer, prompt, max_new_tokens, context, [])
    ids = tokenizer(prompt[:-1])["input_ids"][-(context - max_new_tokens) :]
    vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    # "Ġ" is the byte-level spelling of a space; added whitespace runs are excluded.
    allowed = torch.tensor([t.startswith("\u0120") and len(t) > 1 and t[1] != "\u0120"
                            for t in vocab])
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
        first = int(logits.masked_fill(~allowed, float("-inf")).argmax())
    rest = complete(model, tokenizer, tokenizer.decode(ids + [first]), max_new_tokens - 1,
                    context, [])
    return tokenizer.decode([first])[1:] + rest


def _score(predictions: list[str], targets: list[str]) -> LineScore:
    exact = sum(p.rstrip() == t.rstrip() for p, t in zip(predictions, targets, strict=True))
    similarity = sum(
        difflib.SequenceMatcher(None, p.rstrip(), t.rstrip()).ratio()
        for p, t in zip(predictions, targets, strict=True)
    )
    return LineScore(exact / len(targets), similarity / len(targets))


def next_line_scores(model, tokenizer, positions, context: int):
    stop_ids = _newline_token_ids(tokenizer)
    predictions, baselines, targets = [], [], []
    for source, index in positions:
        lines = source.text.split("\n")
        prompt = "\n".join(lines[:index]) + "\n"
        text = complete(model, tokenizer, prompt, MAX_NEW_TOKENS, context, stop_ids)
        predictions.append(text.split("\n")[0].rstrip("\r"))
        baselines.append(_previous_code_line(lines, index).rstrip("\r"))
        targets.append(lines[index].rstrip("\r"))
    return _score(predictions, targets), _score(baselines, targets)


def sample_completions(model, tokenizer, context: int) -> list[tuple[str, str]]:
    """Greedy single-line completions of fixed prompts, as an editor's ghost text shows
    them: the rest of the current line, or the next line when the prompt ends a line."""
    samples = []
    for prompt in SAMPLE_PROMPTS:
        text = complete_healed(model, tokenizer, prompt, 32, context)
        lines = text.split("\n")
        samples.append((prompt, lines[0] if lines[0].strip() or len(lines) == 1 else lines[1]))
    return samples


def evaluate_model(
    model_dir: Path,
    held_out: Sequence[SourceFile],
    positions: int,
    log: Callable[[str], None],
    context: int = 512,
) -> EvaluationReport:
    started = time.monotonic()
    tokenizer, model = load_model(model_dir)
    tokenizer.model_max_length = 1 << 30  # whole files are encoded, then windowed
    perplexity, tokens, size, bpb = held_out_perplexity(model, tokenizer, held_out, context)
    log(f"held-out perplexity {perplexity:.3f} over {tokens} tokens ({bpb:.3f} bits/byte)")
    chosen = line_positions(held_out, positions)
    model_score, baseline_score = next_line_scores(model, tokenizer, chosen, context)
    log(f"next line over {len(chosen)} positions: model exact {model_score.exact_match:.3f} "
        f"similarity {model_score.edit_similarity:.3f}; baseline exact "
        f"{baseline_score.exact_match:.3f} similarity {baseline_score.edit_similarity:.3f}")
    samples = sample_completions(model, tokenizer, context)
    return EvaluationReport(
        perplexity=perplexity, held_out_tokens=tokens, held_out_bytes=size,
        bits_per_byte=bpb, context_tokens=context, positions=len(chosen),
        model=model_score, baseline=baseline_score, samples=samples,
        seconds=time.monotonic() - started,
    )
