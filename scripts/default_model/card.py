"""MODEL_CARD.md for the exported default model, written from the run summary and evaluation."""

from __future__ import annotations

from pathlib import Path

from .evaluate import EvaluationReport
from .tokenizer import MAX_SPACE_RUN, MAX_TAB_RUN


def _weights_megabytes(model_dir: Path) -> float:
    return sum(p.stat().st_size for p in model_dir.glob("*.safetensors")) / 1e6


def _fence(text: str) -> str:
    return "```python\n" + text.replace("```", "` ` `") + "\n```"


def _replay_note(summary: dict) -> str:
    budget = summary["settings"].get("time_budget_minutes")
    if budget is None:
        return ""
    return (
        f"\n- The run was time-budgeted ({budget:g} minutes on shared hardware) and fixed its "
        f"length at {summary['step']} steps. The same schedule and batches replay with\n"
        f"  `python scripts/train_default_model.py --train-tokens {summary['tokens_seen']}` "
        f"(the script's default); bf16 numerics differ slightly across hardware."
    )


def render_card(model_dir: Path, summary: dict, report: EvaluationReport) -> str:
    shape, settings = summary["shape"], summary["settings"]
    minutes = summary["elapsed_s"] / 60
    samples = "\n\n".join(
        f"{number}. Prompt:\n\n{_fence(prompt)}\n\n   Greedy completion:\n\n{_fence(text)}"
        for number, (prompt, text) in enumerate(report.samples, start=1)
    )
    model, baseline = report.model, report.baseline
    beats = report.model.exact_match > report.baseline.exact_match
    return f"""# tiny-py — codegend's embedded default model

A small [CodeGen](https://arxiv.org/abs/2203.13474)-architecture causal language model for
Python, trained from scratch by `scripts/train_default_model.py` so that a fresh install of
codegend completes code offline. It is resolved as `builtin:tiny-py`. It is a toy next to
real CodeGen checkpoints: it knows the shapes of Python (indentation, signatures, imports,
idioms of the standard library), not much beyond. Point codegend at a bigger CodeGen
checkpoint for real work.

## Data and license

- Source: the Python {summary['python']} standard library installed with the interpreter
  ({', '.join(summary['sources'])}), licensed under the
  [PSF License Agreement](https://docs.python.org/3/license.html). The weights are a
  derived work trained on it; no other data was used.
- Left out: test suites (`test/`, `tests/`, `idle_test/`), `site-packages`, `pydoc_data`,
  `ensurepip`, `turtledemo`, generated codec tables, and files over 300 kB.
- Split by file: a file is held out when the first 4 bytes of the SHA-256 of its path
  (relative to the source root, prefixed by the root's name) modulo 100 is below 5.
  {summary['train_files']} training files ({summary['corpus_tokens']:,} tokens),
  {summary['held_out_files']} held-out files ({report.held_out_tokens:,} tokens).

## Tokenizer

Byte-level BPE trained with `tokenizers` on the training split: {shape['vocab_size']} entries,
including `<|endoftext|>` (id 0; also used as BOS, EOS and padding) and, as in CodeGen's
tokenizer, single tokens for runs of 2–{MAX_SPACE_RUN} spaces and 2–{MAX_TAB_RUN} tabs (added
tokens, matched longest first before pre-tokenization). No normalization, so decoding gives
back any input exactly (`clean_up_tokenization_spaces` is off). Load it with
`AutoTokenizer.from_pretrained`.

## Architecture

`CodeGenForCausalLM`: {shape['n_layer']} layers, width {shape['n_embd']}, {shape['n_head']} heads,
rotary dimension {shape['rotary_dim']}, vocabulary {shape['vocab_size']}, untied input and output
embeddings, `n_positions` {shape['n_positions']}. **{summary['parameters']:,} parameters.**
Weights are stored in float16 (`model.safetensors`, {_weights_megabytes(model_dir):.1f} MB);
`from_pretrained` without a dtype loads them as float32.

Training windows were {settings['seq_len']} tokens long, so the model has never attended
further back than that, and its `n_positions` says so: codegend gives it at most
{settings['seq_len']} tokens of context.

## Training

- {summary['step']} steps of {settings['batch_size']} × {settings['seq_len']} tokens:
  **{summary['tokens_seen']:,} training tokens** (about
  {summary['tokens_seen'] / summary['corpus_tokens']:.1f} passes over the training split).
- AdamW (β = 0.9, 0.95, weight decay {settings['weight_decay']} on matrices), peak learning rate
  {settings['peak_lr']}: {settings['warmup_steps']} warmup steps, constant, then linear decay over
  the last {settings['decay_fraction']:.0%} of the steps to {settings['min_lr_ratio']} of the peak;
  gradient clipping {settings['grad_clip']}, no dropout, seed {settings['seed']}, bf16 autocast:
  {settings['bf16']}.
- Hardware: {summary['hardware']} (shared with other work, at `nice 10`); PyTorch
  {summary['torch']}. Training time: {minutes:.0f} minutes of wall time.
- Command: `{summary['command']}`{_replay_note(summary)}

## Evaluation (held-out files)

Reproduce with `python scripts/train_default_model.py --evaluate-only` ({report.seconds:.0f} s
here).

- Perplexity: **{report.perplexity:.2f}** per token over {report.held_out_tokens:,} held-out
  tokens in {report.context_tokens}-token windows ({report.bits_per_byte:.3f} bits per byte).
- Next-line completion at {report.positions} line starts sampled from the held-out files
  (non-blank target lines; seed fixed): the model greedily completes the line (up to
  {report.context_tokens} tokens of preceding code, at most 48 new tokens, stop at newline).
  Comparisons ignore trailing whitespace. Baseline: repeat the previous non-blank line with its
  indentation.

| | exact match | mean edit similarity (difflib) |
|---|---|---|
| tiny-py | **{model.exact_match:.1%}** | {model.edit_similarity:.3f} |
| baseline: repeat previous line | {baseline.exact_match:.1%} | {baseline.edit_similarity:.3f} |

The model {'beats' if beats else 'does NOT beat'} the baseline on exact match.

## Sample completions

Greedy, one line, as an editor shows ghost text: the rest of the prompt's last line, or the
next line when the prompt ends a line. A prompt ending in a single space is completed with
token healing (the space is backed off and the first token must start with a space), because
this BPE writes a space together with the word after it.

{samples}

## Limits

Trained on one codebase's style (CPython's); small context; no fill-in-the-middle. Expect
plausible-looking but often wrong code beyond a line or two.
"""


def write_card(model_dir: Path, summary: dict, report: EvaluationReport) -> None:
    (model_dir / "MODEL_CARD.md").write_text(render_card(model_dir, summary, report),
                                             encoding="utf-8")
