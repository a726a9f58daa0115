"""Train codegend's embedded default models, `builtin:tiny-py` and `builtin:tiny-web`.

One command from a clean checkout (after `pip install -e '.[dev,bench]'` and, for the
web model, `npm ci` in extension/) reproduces a shipped model:

    python scripts/train_default_model.py --model tiny-py
    python scripts/train_default_model.py --model tiny-web

Steps, each cached in --run-dir so an interrupted run continues with --resume:
corpus (licensed packages, deduplicated, split by package; manifest.json) -> byte-level BPE
tokenizer with the StarCoder FIM tokens -> packed training rows, half of the chunks
FIM-transformed -> training (bf16 where the CPU or GPU has it) -> export into
engine/models/NAME/ -> evaluation on the held-out packages -> MODEL_CARD.md.

`--cooldown-steps N` branches the learning-rate decay from the latest checkpoint (the main
run can go on afterwards) and exports that: a CPU run of unknown length ships whenever it
has to stop.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Preset:
    language: str  # corpus family: python or web
    description: str


PRESETS = {
    "tiny-py": Preset("python", "Python"),
    "tiny-web": Preset("web", "JavaScript, TypeScript, JSX, TSX and Vue"),
}
TOKENIZER_SAMPLE_CHARS = 40_000_000  # the BPE is trained on a sample this large
# The stdlib-only tiny-py shipped before the FIM models: the evaluation's reference.
PREVIOUS_MODEL_COMMIT = "a294e25"
PREVIOUS_MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors",
                        "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(PRESETS), default="tiny-py")
    where = parser.add_argument_group("data and places")
    where.add_argument("--extra-source", type=Path, action="append", default=[],
                       help="another directory of openly licensed Python source (repeatable)")
    where.add_argument("--no-stdlib", action="store_true", help="leave the stdlib out")
    where.add_argument("--distributions", nargs="*", default=None,
                       help="only these installed distributions (default: all permissive)")
    where.add_argument("--node-modules", type=Path,
                       default=REPO_ROOT / "extension" / "node_modules")
    where.add_argument("--held-out", nargs="+", default=None,
                       help="held-out package names (default: the preset's list)")
    where.add_argument("--run-dir", type=Path, default=None,
                       help="default scripts/runs/MODEL")
    where.add_argument("--output", type=Path, default=None,
                       help="default engine/models/MODEL")
    shape = parser.add_argument_group("model")
    shape.add_argument("--vocab-size", type=int, default=8192)
    shape.add_argument("--n-embd", type=int, default=256)
    shape.add_argument("--n-layer", type=int, default=6)
    shape.add_argument("--n-head", type=int, default=8)
    shape.add_argument("--rotary-dim", type=int, default=16)
    shape.add_argument("--n-positions", type=int, default=512,
                       help="rotary table size; the training rows (--seq-len) fit in it")
    train = parser.add_argument_group("training")
    train.add_argument("--train-tokens", type=int, default=None,
                       help="token budget (deterministic)")
    train.add_argument("--time-budget-minutes", type=float, default=None,
                       help="instead of --train-tokens: fix the run length by wall time")
    train.add_argument("--seq-len", type=int, default=512)
    train.add_argument("--batch-size", type=int, default=8)
    train.add_argument("--lr", type=float, default=2e-3)
    train.add_argument("--warmup-steps", type=int, default=100)
    train.add_argument("--fim-rate", type=float, default=0.5)
    train.add_argument("--seed", type=int, default=1234)
    train.add_argument("--checkpoint-minutes", type=float, default=4.0)
    train.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                       help="bf16 autocast; auto uses it on GPUs and on CPUs with AMX/AVX512-BF16")
    train.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    modes = parser.add_argument_group("what to do")
    modes.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    modes.add_argument("--stop-after-steps", type=int, default=None,
                       help="train this many steps, checkpoint and stop (resume later)")
    modes.add_argument("--cooldown-steps", type=int, default=None,
                       help="branch an N-step learning-rate decay from the checkpoint, "
                            "then export and evaluate it")
    modes.add_argument("--prepare-only", action="store_true",
                       help="build corpus, tokenizer and rows, then stop")
    modes.add_argument("--export-only", action="store_true",
                       help="export the latest checkpoint (then evaluate unless --skip-eval)")
    modes.add_argument("--evaluate-only", action="store_true",
                       help="evaluate --output and rewrite its MODEL_CARD.md")
    modes.add_argument("--skip-eval", action="store_true")
    modes.add_argument("--eval-positions", type=int, default=400)
    modes.add_argument("--reference-model", type=Path, default=None,
                       help="a model evaluated beside this one on the same positions "
                            "(default: the tiny-py shipped before, taken from git history)")
    args = parser.parse_args(argv)
    args.run_dir = args.run_dir or REPO_ROOT / "scripts" / "runs" / args.model
    args.output = args.output or REPO_ROOT / "engine" / "models" / args.model
    return args


def resolve_bf16(choice: str) -> bool:
    import torch

    if choice != "auto":
        return choice == "bf16"
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def hardware_description() -> str:
    import torch

    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)}"
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"CPU: {name}, {os.cpu_count()} cores visible, "
            f"{torch.get_num_threads()} torch thread(s)")


def prepare(args, log) -> dict:
    """Corpus, manifest, tokenizer and rows in run_dir (each step skipped once done)."""
    from default_model.corpus import HELD_OUT, collect_packages, split_corpus, write_manifest
    from default_model.dataset import make_examples, pack_rows
    from default_model.tokenizer import (
        END_OF_TEXT,
        FIM_MIDDLE,
        FIM_PREFIX,
        FIM_SUFFIX,
        save_tokenizer,
        train_tokenizer,
    )
    from tokenizers import Tokenizer

    run_dir: Path = args.run_dir
    preset = PRESETS[args.model]
    held_out_path = run_dir / "held_out.jsonl"
    rows_path, mask_path = run_dir / "rows.npy", run_dir / "mask.npy"
    tokenizer_dir = run_dir / "tokenizer"
    if rows_path.exists() and held_out_path.exists():
        return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    log(f"collecting the {preset.language} corpus")
    packages = collect_packages(preset.language, args.node_modules, args.distributions,
                                tuple(args.extra_source), include_stdlib=not args.no_stdlib)
    split, dropped = split_corpus(packages, tuple(args.held_out or HELD_OUT[preset.language]))
    log(f"{len(split.train)} train files, {len(split.held_out)} held-out files; "
        f"duplicates dropped: {dropped}")
    if not (tokenizer_dir / "tokenizer.json").exists():
        texts = [f.text for f in split.train]
        random.Random(args.seed).shuffle(texts)
        sample, size = [], 0
        for text in texts:
            if size >= TOKENIZER_SAMPLE_CHARS:
                break
            sample.append(text)
            size += len(text)
        log(f"training the tokenizer on {size / 1e6:.1f}M characters")
        save_tokenizer(train_tokenizer(sample, args.vocab_size), tokenizer_dir, args.n_positions)
    tokenizer = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    tokenizer.encode_special_tokens = True
    counts: dict[str, int] = {}
    for source in (*split.train, *split.held_out):
        counts[source.package] = counts.get(source.package, 0) + len(
            tokenizer.encode(source.text, add_special_tokens=False).ids)
    manifest = write_manifest(run_dir / "manifest.json", preset.language, packages, split,
                              dropped, counts)
    log(f"tokens: {manifest['train_tokens']:,} train, {manifest['held_out_tokens']:,} held out")
    examples = make_examples(split.train, tokenizer, args.seq_len, args.seed, args.fim_rate)
    end_id = tokenizer.token_to_id(END_OF_TEXT)
    untrained = [tokenizer.token_to_id(t) for t in (FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX)]
    rows, masks = pack_rows(examples, args.seq_len, args.seed, end_id, untrained)
    fill = float(masks.mean())
    log(f"{len(examples):,} examples ({sum(e.fim for e in examples):,} FIM) packed into "
        f"{len(rows):,} rows of {args.seq_len + 1} tokens; {fill:.1%} of positions trained")
    np.save(mask_path, masks)
    np.save(rows_path, rows)
    with held_out_path.open("w", encoding="utf-8") as out:
        for source in split.held_out:
            out.write(json.dumps({"package": source.package, "relative": source.relative,
                                  "text": source.text}) + "\n")
    return manifest


def load_held_out(run_dir: Path):
    from default_model.sources import SourceFile

    with (run_dir / "held_out.jsonl").open(encoding="utf-8") as lines:
        return [SourceFile(**json.loads(line)) for line in lines]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch
    from default_model.tokenizer import END_OF_TEXT
    from default_model.training import (
        CHECKPOINT_NAME,
        COOLDOWN_NAME,
        ModelShape,
        TrainSettings,
        train,
    )

    if args.threads:
        torch.set_num_threads(args.threads)
    run_dir: Path = args.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    log_file = (run_dir / "train.log").open("a", encoding="utf-8")

    def log(message: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {message}"
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    if args.evaluate_only:
        return evaluate_and_write_card(args, run_dir, log)
    manifest = prepare(args, log)
    if args.prepare_only:
        return 0
    rows, masks = np.load(run_dir / "rows.npy"), np.load(run_dir / "mask.npy")
    from tokenizers import Tokenizer

    end_of_text_id = Tokenizer.from_file(str(run_dir / "tokenizer" / "tokenizer.json")
                                         ).token_to_id(END_OF_TEXT)
    shape = ModelShape(args.vocab_size, args.n_embd, args.n_layer, args.n_head,
                       args.rotary_dim, args.n_positions)
    settings = TrainSettings(
        train_tokens=args.train_tokens, time_budget_minutes=args.time_budget_minutes,
        seq_len=args.seq_len, batch_size=args.batch_size,
        peak_lr=args.lr, warmup_steps=args.warmup_steps, seed=args.seed,
        checkpoint_minutes=args.checkpoint_minutes, bf16=resolve_bf16(args.precision),
    )
    if args.train_tokens is None and args.time_budget_minutes is None:
        settings = replace(settings, train_tokens=int(masks.size))  # one epoch
    checkpoint = run_dir / CHECKPOINT_NAME
    if args.cooldown_steps is not None:
        train(rows, masks, shape, settings, end_of_text_id, run_dir, True, log,
              cooldown_steps=args.cooldown_steps)
        checkpoint = run_dir / COOLDOWN_NAME
    elif not args.export_only:
        if checkpoint.exists() and not args.resume:
            raise SystemExit(f"{checkpoint} exists: pass --resume to continue it, or choose "
                             "another --run-dir")
        train(rows, masks, shape, settings, end_of_text_id, run_dir, args.resume, log,
              stop_after_steps=args.stop_after_steps)
        if args.stop_after_steps is not None:
            return 0
    elif (run_dir / COOLDOWN_NAME).exists():
        checkpoint = run_dir / COOLDOWN_NAME

    from default_model.export import export_checkpoint, plot_loss, write_heldout_list

    info = export_checkpoint(checkpoint, run_dir / "tokenizer", args.output, end_of_text_id)
    plot_loss(run_dir, args.output / "loss.png", args.model)
    # The web model's held-out npm packages are not installed with codegend: it measures and
    # calibrates on this project's own TypeScript (extension/src), which it never saw.
    own_samples = sorted((REPO_ROOT / "extension" / "src").glob("*.ts")) \
        if PRESETS[args.model].language == "web" else []
    write_heldout_list(args.output, load_held_out(run_dir), own_samples)
    summary = {
        **info,
        "model": args.model,
        "checkpoint": checkpoint.name,
        "manifest": {key: value for key, value in manifest.items() if key != "packages"},
        "rows": int(len(rows)),
        "hardware": hardware_description(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    log(f"exported step {info['step']} of {checkpoint.name} to {args.output}")
    if args.skip_eval:
        return 0
    return evaluate_and_write_card(args, run_dir, log)


def previous_model(run_dir: Path) -> Path | None:
    """The previously shipped tiny-py, written out of git history once; None without git."""
    import subprocess

    target = run_dir.parent / "previous-tiny-py"
    if (target / "model.safetensors").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name in PREVIOUS_MODEL_FILES:
        shown = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "show",
             f"{PREVIOUS_MODEL_COMMIT}:engine/models/tiny-py/{name}"],
            capture_output=True, check=False)
        if shown.returncode != 0:
            return None
        (target / name).write_bytes(shown.stdout)
    return target


def evaluate_and_write_card(args, run_dir: Path, log) -> int:
    from default_model.card import write_card
    from default_model.evaluate import evaluate_model

    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    held_out = load_held_out(run_dir)
    log(f"evaluating {args.output} on {len(held_out)} held-out files")
    reference = args.reference_model or previous_model(run_dir)
    report = evaluate_model(args.output, held_out, args.eval_positions, log,
                            language=PRESETS[args.model].language,
                            context=summary["settings"]["seq_len"], reference_dir=reference)
    (run_dir / "evaluation.json").write_text(json.dumps(report.to_json(), indent=1),
                                             encoding="utf-8")
    write_card(args.output, args.model, PRESETS[args.model].description, summary, manifest,
               report)
    log(f"wrote {args.output / 'MODEL_CARD.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
