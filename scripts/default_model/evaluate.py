"""Held-out evaluation of an exported model, side by side with simple baselines.

Every measure runs on packages the model never saw (the corpus' held-out split):
- perplexity and bits per byte of the held-out files, in windows of the training context;
- next-line completion at line starts, and mid-line after `=` and after `(`: greedy until
  the end of the line, exact match and edit similarity (difflib ratio) with the real text;
- single-line infill: a real line removed, the model given the code before and after it
  (PSM and SPM orders), exact match of the line it writes.

Baselines on the very same positions: "repeat the previous line" (for mid-line: what followed
the same character on the previous line), "empty", and -- when given -- a reference model
such as the previously shipped tiny-py, which has no FIM: it infills from the prefix alone,
as the product did before.
"""

from __future__ import annotations

import difflib
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .sources import SourceFile

MAX_NEW_TOKENS = 48
POSITION_SEED = 20261128
SUFFIX_BUDGET = 128  # tokens of the suffix an infill prompt keeps
MID_LINE_TRIGGERS = ("=", "(")
TASK_SHARE = {"line start": 0.4, "after =": 0.2, "after (": 0.2, "infill": 0.2}

# No prompt ends with a space: without token healing (which the product does) a model
# given a lone trailing space continues from an unusual token.
SAMPLE_PROMPTS = {
    "python": (
        "def __init__(self",
        "import",
        "class Stack:\n    def __init__(self):\n        self.items = []\n\n"
        "    def push(self, item):\n",
        "for i in range(",
        "if __name__ ==",
        "def read_lines(path):\n    with open(path) as f:\n",
        "try:\n    value = int(text)\nexcept",
        "def load_tasks(path):\n",
    ),
    "web": (
        "function add(a, b) {\n",
        "import { readFile } from",
        "const items = [];\nfor (let i = 0; i <",
        "export class Stack {\n  constructor() {\n",
        "async function fetchJson(url) {\n  const response = await",
        "interface User {\n  id: number;\n",
        "module.exports =",
    ),
}


@dataclass(frozen=True)
class Position:
    """One place to complete: the code before, the code after, and the true text."""

    task: str  # a key of TASK_SHARE
    prefix: str
    suffix: str
    target: str
    previous: str  # the repeat-previous-line baseline's guess


@dataclass(frozen=True)
class Score:
    exact_match: float
    edit_similarity: float
    positions: int


@dataclass
class EvaluationReport:
    perplexity: float
    bits_per_byte: float
    held_out_tokens: int
    held_out_bytes: int
    context_tokens: int
    # task -> contestant -> score; contestants: model, model SPM (infill), repeat previous
    # line, empty, and the reference model when one is given
    scores: dict[str, dict[str, Score]] = field(default_factory=dict)
    samples: list[tuple[str, str]] = field(default_factory=list)
    reference: str | None = None
    seconds: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)


def load_model(model_dir: Path):
    from transformers import AutoTokenizer, CodeGenForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    tokenizer.model_max_length = 1 << 30  # whole files are encoded, then windowed
    model = CodeGenForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    return tokenizer, model.eval()


PERPLEXITY_BATCH = 16  # windows per forward pass


def held_out_perplexity(model, tokenizer, files: Sequence[SourceFile], context: int):
    """exp(mean next-token loss) over non-overlapping windows of the packed held-out files."""
    eot = tokenizer.eos_token_id
    stream = [eot]
    for source in files:
        stream.extend(tokenizer(source.text, split_special_tokens=True)["input_ids"])
        stream.append(eot)
    windows = [stream[start : start + context + 1] for start in range(0, len(stream) - 1, context)]
    windows = [w for w in windows if len(w) >= 2]
    total_loss, predicted = 0.0, 0
    with torch.inference_mode():
        # Full windows in batches (a CPU runs one batch of 16 far faster than 16 windows);
        # the shorter last window alone.
        for first in range(0, len(windows), PERPLEXITY_BATCH):
            batch = windows[first : first + PERPLEXITY_BATCH]
            groups = [batch] if all(len(w) == len(batch[0]) for w in batch) else \
                [[w] for w in batch]
            for group in groups:
                tokens = torch.tensor(group)
                logits = model(input_ids=tokens[:, :-1]).logits
                loss = torch.nn.functional.cross_entropy(
                    logits.float().flatten(0, 1), tokens[:, 1:].flatten(), reduction="sum")
                total_loss += loss.item()
                predicted += tokens[:, 1:].numel()
    held_out_bytes = sum(len(f.text.encode("utf-8")) + 1 for f in files)
    bits_per_byte = total_loss / math.log(2) / held_out_bytes
    return math.exp(total_loss / predicted), predicted, held_out_bytes, bits_per_byte


def _previous_code_line(lines: list[str], index: int) -> str | None:
    for previous in reversed(lines[:index]):
        if previous.strip():
            return previous
    return None


def _candidates(source: SourceFile) -> dict[str, list[Position]]:
    lines = source.text.split("\n")
    found: dict[str, list[Position]] = {task: [] for task in TASK_SHARE}
    offset = 0
    for index, line in enumerate(lines):
        start = offset
        offset += len(line) + 1
        previous = _previous_code_line(lines, index)
        if not line.strip() or previous is None or len(line) > 200:
            continue
        before, after = source.text[:start], source.text[start + len(line):]
        found["line start"].append(Position("line start", before, after, line, previous))
        found["infill"].append(Position("infill", before, after, line, previous))
        for trigger in MID_LINE_TRIGGERS:
            column = line.find(trigger)
            rest = line[column + 1:]
            if column < 0 or not rest.strip() or (trigger == "=" and rest.startswith("=")):
                continue
            guess_column = previous.find(trigger)
            guess = previous[guess_column + 1:] if guess_column >= 0 else ""
            found[f"after {trigger}"].append(Position(
                f"after {trigger}", before + line[:column + 1], after, rest, guess))
    return found


def sample_positions(files: Sequence[SourceFile], count: int) -> list[Position]:
    """A deterministic sample per task, at most a few positions per file so that no big
    file dominates."""
    rng = random.Random(POSITION_SEED)
    per_task: dict[str, list[list[Position]]] = {task: [] for task in TASK_SHARE}
    for source in files:
        for task, positions in _candidates(source).items():
            if positions:
                per_task[task].append(positions)
    chosen: list[Position] = []
    for task, share in TASK_SHARE.items():
        wanted = max(1, round(count * share))
        groups = per_task[task]
        cap = max(2, math.ceil(3 * wanted / max(1, len(groups))))
        pool = [p for group in groups for p in rng.sample(group, min(cap, len(group)))]
        chosen.extend(rng.sample(pool, min(wanted, len(pool))))
    return chosen


class Completer:
    """Greedy single-line completion with one model, prefix-only or fill-in-the-middle."""

    def __init__(self, model_dir: Path, context: int) -> None:
        self.tokenizer, self.model = load_model(model_dir)
        self.context = min(context, self.model.config.n_positions)
        # Prompt tokens: within the context, and leaving room for the new tokens.
        self.prompt_budget = min(self.context, self.model.config.n_positions - MAX_NEW_TOKENS)
        assert self.prompt_budget > 0, "n_positions leaves no room for a prompt"
        vocab = self.tokenizer.get_vocab()
        self.fim_ids = tuple(vocab.get(t) for t in ("<fim_prefix>", "<fim_middle>",
                                                     "<fim_suffix>"))
        self.has_fim = None not in self.fim_ids
        self.stop_ids = [self.tokenizer.eos_token_id] + [
            i for i in range(len(self.tokenizer)) if "\n" in self.tokenizer.decode([i])]

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, split_special_tokens=True)["input_ids"] if text else []

    def _generate(self, ids: list[int]) -> str:
        input_ids = torch.tensor([ids])
        with torch.inference_mode():
            output = self.model.generate(
                input_ids, attention_mask=torch.ones_like(input_ids),
                max_new_tokens=MAX_NEW_TOKENS, do_sample=False, eos_token_id=self.stop_ids,
                pad_token_id=self.tokenizer.eos_token_id)
        text = self.tokenizer.decode(output[0, len(ids):], skip_special_tokens=True)
        return text.split("\n")[0].rstrip("\r")

    def complete(self, prefix: str) -> str:
        keep = self.prompt_budget
        return self._generate([self.tokenizer.eos_token_id, *self._encode(prefix)][-keep:])

    def infill(self, prefix: str, suffix: str, spm: bool) -> str:
        if not self.has_fim:
            return self.complete(prefix)
        fim_prefix, fim_middle, fim_suffix = self.fim_ids
        suffix_ids = self._encode(suffix)[:min(SUFFIX_BUDGET, self.prompt_budget // 4)]
        keep = self.prompt_budget - len(suffix_ids) - 3
        prefix_ids = self._encode(prefix)[-keep:]
        if spm:
            ids = [fim_prefix, fim_suffix, *suffix_ids, fim_middle, *prefix_ids]
        else:
            ids = [fim_prefix, *prefix_ids, fim_suffix, *suffix_ids, fim_middle]
        return self._generate(ids)


def _score(predictions: list[str], targets: list[str]) -> Score:
    if not targets:
        return Score(0.0, 0.0, 0)
    exact = sum(p.rstrip() == t.rstrip() for p, t in zip(predictions, targets, strict=True))
    similarity = sum(difflib.SequenceMatcher(None, p.rstrip(), t.rstrip()).ratio()
                     for p, t in zip(predictions, targets, strict=True))
    return Score(exact / len(targets), similarity / len(targets), len(targets))


def score_positions(positions: Sequence[Position], model: Completer,
                    reference: Completer | None, log: Callable[[str], None]
                    ) -> dict[str, dict[str, Score]]:
    scores: dict[str, dict[str, Score]] = {}
    for task in TASK_SHARE:
        chosen = [p for p in positions if p.task == task]
        targets = [p.target for p in chosen]
        guesses: dict[str, list[str]] = {}
        if task == "infill":
            guesses["model (PSM)"] = [model.infill(p.prefix, p.suffix, False) for p in chosen]
            guesses["model (SPM)"] = [model.infill(p.prefix, p.suffix, True) for p in chosen]
        else:
            guesses["model"] = [model.complete(p.prefix) for p in chosen]
        if reference is not None:
            guesses["reference"] = [reference.complete(p.prefix) for p in chosen]
        guesses["repeat previous line"] = [p.previous for p in chosen]
        guesses["empty"] = ["" for _ in chosen]
        scores[task] = {name: _score(guess, targets) for name, guess in guesses.items()}
        log(f"{task}: " + "; ".join(f"{name} {score.exact_match:.3f}/{score.edit_similarity:.2f}"
                                    for name, score in scores[task].items()))
    return scores


def sample_completions(model: Completer, language: str) -> list[tuple[str, str]]:
    """Greedy completions of fixed prompts, as ghost text shows them: the rest of the line,
    or the next line when the prompt ends one."""
    samples = []
    for prompt in SAMPLE_PROMPTS[language]:
        ends_line = prompt.endswith("\n")
        text = model.complete(prompt)
        if ends_line and not text.strip():
            text = model.complete(prompt + text + "\n")
        samples.append((prompt, text))
    return samples


def evaluate_model(model_dir: Path, held_out: Sequence[SourceFile], positions: int,
                   log: Callable[[str], None], language: str = "python", context: int = 512,
                   reference_dir: Path | None = None) -> EvaluationReport:
    started = time.monotonic()
    model = Completer(model_dir, context)
    perplexity, tokens, size, bpb = held_out_perplexity(model.model, model.tokenizer,
                                                        held_out, model.context)
    log(f"held-out perplexity {perplexity:.3f} over {tokens} tokens ({bpb:.3f} bits/byte)")
    reference = Completer(reference_dir, context) if reference_dir else None
    chosen = sample_positions(held_out, positions)
    scores = score_positions(chosen, model, reference, log)
    return EvaluationReport(
        perplexity=perplexity, bits_per_byte=bpb, held_out_tokens=tokens, held_out_bytes=size,
        context_tokens=model.context, scores=scores,
        samples=sample_completions(model, language),
        reference=str(reference_dir) if reference_dir else None,
        seconds=time.monotonic() - started,
    )
