"""MODEL_CARD.md for an exported default model, written from the run's summary, the corpus
manifest and the held-out evaluation."""

from __future__ import annotations

from pathlib import Path

from .evaluate import TASK_SHARE, EvaluationReport
from .tokenizer import MAX_SPACE_RUN, MAX_TAB_RUN

TASK_WORDS = {
    "line start": "next line, at a line start",
    "after =": "rest of the line after `=`",
    "after (": "rest of the line after `(`",
    "infill": "single-line infill (prefix and suffix given)",
}


def _weights_megabytes(model_dir: Path) -> float:
    return sum(p.stat().st_size for p in model_dir.glob("*.safetensors")) / 1e6


def _fence(text: str, language: str) -> str:
    return f"```{language}\n" + text.replace("```", "` ` `") + "\n```"


def _score_table(report: EvaluationReport, name: str) -> str:
    contestants: list[str] = []
    for task in TASK_SHARE:
        for contestant in report.scores.get(task, {}):
            if contestant not in contestants:
                contestants.append(contestant)
    labels = ["previous tiny-py" if c == "reference" else c.replace("model", name)
              for c in contestants]
    header = "| task | positions | " + " | ".join(labels) + " |"
    lines = [header, "|---|---|" + "---|" * len(contestants)]
    for task in TASK_SHARE:
        scores = report.scores.get(task, {})
        if not scores:
            continue
        count = next(iter(scores.values())).positions
        cells = []
        for contestant in contestants:
            score = scores.get(contestant)
            if score is None:
                cells.append("—")
                continue
            cell = f"{score.exact_match:.1%} / {score.edit_similarity:.2f}"
            cells.append(f"**{cell}**" if contestant.startswith("model") else cell)
        lines.append(f"| {TASK_WORDS[task]} | {count} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _manifest_summary(manifest: dict) -> str:
    used = [r for r in manifest["packages"] if r["used"] and r["files_kept"]]
    used.sort(key=lambda r: -r["tokens"])
    rows = "\n".join(
        f"| {r['package']} | {r['version']} | {r['license'][:40]} | {r['split']} | "
        f"{r['files_kept']} | {r['tokens']:,} |" for r in used[:25])
    more = len(used) - 25
    refused = ", ".join(manifest["packages_refused"]) or "none"
    return (
        "| package | version | license | split | files | tokens |\n|---|---|---|---|---|---|\n"
        f"{rows}\n" + (f"\n… and {more} smaller packages (all in `manifest.json` of the run).\n"
                       if more > 0 else "") +
        f"\nLeft out for their license (not on the allowlist, or unknown): {refused}.\n")


def render_card(model_dir: Path, name: str, languages: str, summary: dict, manifest: dict,
                report: EvaluationReport) -> str:
    shape, settings = summary["shape"], summary["settings"]
    minutes = summary["elapsed_s"] / 60
    code_language = "python" if "Python" in languages else "typescript"
    samples = "\n\n".join(
        f"{number}. Prompt:\n\n{_fence(prompt, code_language)}\n\n   Greedy completion "
        f"(one line):\n\n{_fence(text, code_language)}"
        for number, (prompt, text) in enumerate(report.samples, start=1))
    cooldown = summary.get("cooldown_from")
    schedule = (f"constant after warmup, then (a cooldown branch from step {cooldown}) a "
                f"linear decay to {settings['min_lr_ratio']} of the peak over the last "
                f"{summary['step'] - cooldown} steps" if cooldown is not None else
                "warmup, constant, then linear decay")
    return f"""# {name} — codegend's embedded model for {languages}

A small [CodeGen](https://arxiv.org/abs/2203.13474)-architecture causal language model trained
from scratch by `scripts/train_default_model.py --model {name}`, with fill-in-the-middle, so
that a fresh install of codegend completes {languages} offline. It is resolved as
`builtin:{name}`. It is small and trained on a CPU budget: expect short, local completions;
point codegend at a bigger checkpoint for real work.

## Data and licenses

Built by `scripts/default_model/corpus.py` from what the project itself installs, nothing
fetched: {manifest['packages_used']} packages whose license metadata is on a permissive
allowlist (MIT, BSD, Apache-2.0, PSF, ISC, HPND, Unlicense, zlib, BSL-1.0, CC0-1.0). Left out:
test suites, vendored copies, generated and minified files, files over 300 kB, files that are
not UTF-8; exact duplicates and near duplicates (MinHash, Jaccard ≥ 0.85:
{manifest['duplicates_dropped']}).

Split **by package**: held-out packages are never trained on, so the evaluation below measures
code the model never saw. {manifest['train_files']:,} training files
({manifest['train_tokens']:,} tokens), {manifest['held_out_files']:,} held-out files
({manifest['held_out_tokens']:,} tokens).

{_manifest_summary(manifest)}
## Tokenizer

Byte-level BPE trained with `tokenizers` on the training split: {shape['vocab_size']} entries.
Special tokens follow the StarCoder convention: `<|endoftext|>` (id 0; BOS, EOS, padding, and
the end of an infilled middle), `<fim_prefix>`, `<fim_middle>`, `<fim_suffix>`, `<fim_pad>`
(ids 1–4). Runs of 2–{MAX_SPACE_RUN} spaces and 2–{MAX_TAB_RUN} tabs are single tokens. No
normalization: decoding gives back any input exactly.

## Architecture

`CodeGenForCausalLM`: {shape['n_layer']} layers, width {shape['n_embd']}, {shape['n_head']} heads,
rotary dimension {shape['rotary_dim']}, untied embeddings, `n_positions` {shape['n_positions']}.
**{summary['parameters']:,} parameters**, stored in float16 (`model.safetensors`,
{_weights_megabytes(model_dir):.1f} MB).

## Training

- Files cut into chunks of 128–{settings['seq_len'] - 8} tokens at line starts; half of the
  chunks transformed for fill-in-the-middle (character-level split points, PSM and SPM equally,
  as in Bavarian et al. 2022); chunks packed into rows of {settings['seq_len']} tokens.
- {summary['step']:,} steps of {settings['batch_size']} rows: **{summary['tokens_seen']:,}
  tokens** seen ({summary['tokens_seen'] / max(1, summary['rows'] * (settings['seq_len'] + 1)):.2f}
  passes over the training rows).
- AdamW (β = 0.9, 0.95, weight decay {settings['weight_decay']}), peak learning rate
  {settings['peak_lr']}, {settings['warmup_steps']} warmup steps, {schedule}; gradient clipping
  {settings['grad_clip']}, no dropout, seed {settings['seed']}, bf16 autocast: {settings['bf16']}.
- Hardware: {summary['hardware']}, shared with other work; PyTorch {summary['torch']}.
  {minutes:.0f} minutes of training time.
- Command: `{summary['command']}`

![training loss](loss.png)

## Evaluation on the held-out packages

Reproduce with `python scripts/train_default_model.py --model {name} --evaluate-only`
({report.seconds:.0f} s here). Greedy, one line, at most 48 new tokens, up to
{report.context_tokens} tokens of context; comparisons ignore trailing whitespace.

- Perplexity: **{report.perplexity:.2f}** per token over {report.held_out_tokens:,} held-out
  tokens ({report.bits_per_byte:.3f} bits per byte).

Exact match / mean edit similarity (difflib) on the same positions:

{_score_table(report, name)}

"previous tiny-py" is the model shipped before this one (Python standard library only, no
fill-in-the-middle: it infills from the prefix alone). "repeat previous line" guesses the
previous non-blank line (mid-line: what followed the same character on it).

## Sample completions

{samples}
"""


def write_card(model_dir: Path, name: str, languages: str, summary: dict, manifest: dict,
               report: EvaluationReport) -> None:
    (model_dir / "MODEL_CARD.md").write_text(
        render_card(model_dir, name, languages, summary, manifest, report), encoding="utf-8")
