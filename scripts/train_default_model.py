"""Train codegend's embedded default model, `builtin:tiny-py`, from local Python source.

One command from a clean checkout reproduces the shipped model:

    python scripts/train_default_model.py

It reads the standard library of the running interpreter (plus any --extra-source), trains a
byte-level BPE tokenizer and a small CodeGen, exports it to engine/models/tiny-py/, evaluates
it on held-out files and writes MODEL_CARD.md there. Intermediate state (tokenizer, token
arrays, checkpoints, logs) lives in --run-dir, so an interrupted run continues with --resume.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "engine" / "models" / "tiny-py"
DEFAULT_RUN_DIR = REPO_ROOT / "scripts" / "runs" / "tiny-py"
# The token budget of the shipped model (its run was time-budgeted; this replays it).
SHIPPED_TRAIN_TOKENS = 3_387_392


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    where = parser.add_argument_group("data and places")
    where.add_argument("--extra-source", type=Path, action="append", default=[],
                       help="another directory of openly licensed Python source (repeatable)")
    where.add_argument("--no-stdlib", action="store_true",
                       help="train only on --extra-source directories")
    where.add_argument("--max-files", type=int, default=None,
                       help="use at most this many files per source (quick runs, tests)")
    where.add_argument("--held-out-percent", type=int, default=5)
    where.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR)
    where.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    shape = parser.add_argument_group("model")
    shape.add_argument("--vocab-size", type=int, default=8192)
    shape.add_argument("--n-embd", type=int, default=256)
    shape.add_argument("--n-layer", type=int, default=6)
    shape.add_argument("--n-head", type=int, default=8)
    shape.add_argument("--rotary-dim", type=int, default=16)
    shape.add_argument("--n-positions", type=int, default=512,
                       help="rotary table size; the training windows (--seq-len) fit in it")
    train = parser.add_argument_group("training")
    train.add_argument("--train-tokens", type=int, default=None,
                       help="token budget (deterministic); the shipped model's is in its card")
    train.add_argument("--time-budget-minutes", type=float, default=None,
                       help="instead of --train-tokens: fix the run length by wall time")
    train.add_argument("--seq-len", type=int, default=512)
    train.add_argument("--batch-size", type=int, default=4)
    train.add_argument("--lr", type=float, default=2e-3)
    train.add_argument("--warmup-steps", type=int, default=50)
    train.add_argument("--seed", type=int, default=1234)
    train.add_argument("--checkpoint-minutes", type=float, default=4.0)
    train.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                       help="bf16 autocast; auto uses it on GPUs and on CPUs with AMX/AVX512-BF16")
    train.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    modes = parser.add_argument_group("what to do")
    modes.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    modes.add_argument("--stop-after-steps", type=int, default=None,
                       help="train this many steps, checkpoint and stop (resume later)")
    modes.add_argument("--export-only", action="store_true",
                       help="export the latest checkpoint (then evaluate unless --skip-eval)")
    modes.add_argument("--evaluate-only", action="store_true",
                       help="evaluate --output and rewrite its MODEL_CARD.md")
    modes.add_argument("--skip-eval", action="store_true")
    modes.add_argument("--eval-positions", type=int, default=300)
    return parser.parse_args(argv)


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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch
    from default_model.corpus import load_corpus, stdlib_root
    from default_model.tokenizer import END_OF_TEXT, save_tokenizer, train_tokenizer
    from default_model.training import CHECKPOINT_NAME, ModelShape, TrainSettings, train

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

    roots = ([] if args.no_stdlib else [stdlib_root()]) + list(args.extra_source)
    if not roots:
        raise SystemExit("no source: drop --no-stdlib or add --extra-source")
    split = load_corpus(roots, args.held_out_percent, args.max_files)
    shape = ModelShape(args.vocab_size, args.n_embd, args.n_layer, args.n_head,
                       args.rotary_dim, args.n_positions)
    tokenizer_dir = run_dir / "tokenizer"
    if args.evaluate_only:
        return evaluate_and_write_card(args, split, run_dir, log)

    if not (tokenizer_dir / "tokenizer.json").exists():
        log(f"training tokenizer on {len(split.train)} files")
        tokenizer = train_tokenizer([f.text for f in split.train], args.vocab_size)
        save_tokenizer(tokenizer, tokenizer_dir, args.n_positions)
    from transformers import AutoTokenizer

    hf_tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    hf_tokenizer.model_max_length = sys.maxsize  # whole files are encoded, then windowed
    end_of_text_id = hf_tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    token_path = run_dir / "train_tokens.npy"
    if not token_path.exists():
        encoded = hf_tokenizer([f.text for f in split.train])["input_ids"]
        stream = [end_of_text_id]
        for ids in encoded:
            stream.extend(ids)
            stream.append(end_of_text_id)
        np.save(token_path, np.asarray(stream, dtype=np.uint16))
    tokens = np.load(token_path)
    log(f"corpus: {len(split.train)} train files ({len(tokens)} tokens), "
        f"{len(split.held_out)} held-out files")

    settings = TrainSettings(
        train_tokens=args.train_tokens, time_budget_minutes=args.time_budget_minutes,
        seq_len=args.seq_len, batch_size=args.batch_size,
        peak_lr=args.lr, warmup_steps=args.warmup_steps, seed=args.seed,
        checkpoint_minutes=args.checkpoint_minutes, bf16=resolve_bf16(args.precision),
    )
    if args.train_tokens is None and args.time_budget_minutes is None:
        args.train_tokens = SHIPPED_TRAIN_TOKENS
        settings = replace(settings, train_tokens=SHIPPED_TRAIN_TOKENS)
    if not args.export_only:
        if (run_dir / CHECKPOINT_NAME).exists() and not args.resume:
            raise SystemExit(f"{run_dir / CHECKPOINT_NAME} exists: pass --resume to continue "
                             "it, or choose another --run-dir")
        train(tokens, shape, settings, end_of_text_id, run_dir, args.resume, log,
              stop_after_steps=args.stop_after_steps)
        if args.stop_after_steps is not None:
            return 0

    from default_model.export import export_checkpoint

    info = export_checkpoint(run_dir / CHECKPOINT_NAME, tokenizer_dir, args.output,
                             end_of_text_id)
    previous = run_dir / "summary.json"
    command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    if args.export_only and previous.exists():
        # Exporting again does not change how the weights were trained.
        command = json.loads(previous.read_text(encoding="utf-8"))["command"]
    summary = {
        **info,
        "train_files": len(split.train),
        "held_out_files": len(split.held_out),
        "corpus_tokens": int(len(tokens)),
        "sources": [str(root) for root in roots],
        "hardware": hardware_description(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "command": command,
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    log(f"exported step {info['step']} to {args.output}")
    if args.skip_eval:
        return 0
    return evaluate_and_write_card(args, split, run_dir, log)


def evaluate_and_write_card(args, split, run_dir: Path, log) -> int:
    from default_model.card import write_card
    from default_model.evaluate import evaluate_model

    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    log(f"evaluating {args.output} on {len(split.held_out)} held-out files")
    report = evaluate_model(args.output, split.held_out, args.eval_positions, log,
                            context=summary["settings"]["seq_len"])
    write_card(args.output, summary, report)
    log(f"wrote {args.output / 'MODEL_CARD.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
