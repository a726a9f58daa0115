"""The training script of the default model, run for real at toy size.

The pure pieces (split, schedule, batches, tokenizer) are imported from scripts/; the
script itself runs in a subprocess exactly as a user runs it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "scripts" / "train_default_model.py"
sys.path.insert(0, str(SCRIPT.parent))

from default_model.corpus import SourceFile, is_held_out, load_corpus, read_sources  # noqa: E402
from default_model.tokenizer import END_OF_TEXT, train_tokenizer  # noqa: E402
from default_model.training import (  # noqa: E402
    TrainSettings,
    batch_for_step,
    decay_start_step,
    learning_rate,
)

TOY_MODEL = ["--vocab-size", "400", "--n-embd", "32", "--n-layer", "2", "--n-head", "4",
             "--rotary-dim", "4", "--n-positions", "128", "--seq-len", "32",
             "--batch-size", "2", "--warmup-steps", "2", "--threads", "1"]


def _write_sources(root: Path, count: int) -> None:
    for index in range(count):
        package = root / f"pkg{index % 3}"
        package.mkdir(parents=True, exist_ok=True)
        body = "".join(
            f"def function_{index}_{n}(value, other=None):\n"
            f"    \"\"\"Return value plus {n}.\"\"\"\n"
            f"    if other is None:\n        other = {n}\n    return value + other\n\n\n"
            for n in range(40)
        )
        (package / f"module_{index}.py").write_text(f"import os\n\n\n{body}", encoding="utf-8")
    (root / "tests").mkdir(exist_ok=True)
    (root / "tests" / "test_skipped.py").write_text("assert True\n", encoding="utf-8")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                          text=True, timeout=240, check=False)


def test_split_is_by_file_stable_and_skips_test_suites(tmp_path: Path) -> None:
    _write_sources(tmp_path, 30)
    sources = read_sources(tmp_path)
    assert all("tests/" not in s.relative for s in sources)
    assert len(sources) == 30
    first = load_corpus([tmp_path], held_out_percent=20)
    second = load_corpus([tmp_path], held_out_percent=20)
    assert first == second
    train_names = {s.relative for s in first.train}
    held_names = {s.relative for s in first.held_out}
    assert not train_names & held_names
    assert len(train_names) + len(held_names) == 30
    assert all(is_held_out(f"{tmp_path.name}/{name}", 20) for name in held_names)


def test_learning_rate_warms_up_holds_then_decays_to_the_floor() -> None:
    settings = TrainSettings(train_tokens=100 * 64, seq_len=32, batch_size=2, peak_lr=1e-3,
                             warmup_steps=10, decay_fraction=0.25, min_lr_ratio=0.1)
    rates = [learning_rate(step, settings.total_steps, settings) for step in range(100)]
    assert rates[0] < rates[5] < rates[9] == pytest.approx(1e-3)
    decay_start = decay_start_step(100, settings)
    assert decay_start == 75
    assert all(rate == pytest.approx(1e-3) for rate in rates[10:decay_start])
    assert all(a > b for a, b in zip(rates[decay_start:], rates[decay_start + 1 :], strict=False))
    assert rates[-1] == pytest.approx(1e-4)
    # A time-budgeted run does not know its length yet: the rate stays at the peak.
    assert learning_rate(500, None, settings) == pytest.approx(1e-3)


def test_batches_depend_only_on_seed_and_step() -> None:
    tokens = np.arange(10_000, dtype=np.uint16)
    settings = TrainSettings(train_tokens=10_000, seq_len=16, batch_size=3)
    batch = batch_for_step(tokens, 7, settings)
    assert batch.shape == (3, 17)
    assert torch.equal(batch, batch_for_step(tokens, 7, settings))
    assert not torch.equal(batch, batch_for_step(tokens, 8, settings))
    # Windows are contiguous slices of the stream (next-token targets line up).
    assert torch.all(batch[:, 1:] - batch[:, :-1] == 1)


def test_indentation_runs_are_single_tokens() -> None:
    texts = ["def f(x):\n    if x:\n        return x\n\treturn 0\n"] * 50
    tokenizer = train_tokenizer(texts, vocab_size=300)
    pieces = tokenizer.encode("        return x").tokens
    assert pieces[0] == " " * 8
    assert tokenizer.token_to_id(END_OF_TEXT) == 0
    assert tokenizer.get_vocab_size() == 300


def test_tiny_run_trains_resumes_exports_and_evaluates(tmp_path: Path) -> None:
    source, run_dir, out = tmp_path / "src", tmp_path / "run", tmp_path / "model"
    _write_sources(source, 24)
    common = ["--no-stdlib", "--extra-source", str(source), "--held-out-percent", "25",
              "--run-dir", str(run_dir), "--output", str(out), *TOY_MODEL,
              "--train-tokens", str(12 * 64)]
    first = _run(*common, "--stop-after-steps", "5")
    assert first.returncode == 0, first.stderr
    assert not (out / "config.json").exists()
    refused = _run(*common)
    assert refused.returncode != 0 and "--resume" in refused.stderr
    second = _run(*common, "--resume", "--eval-positions", "3")
    assert second.returncode == 0, second.stderr

    checkpoint = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    assert checkpoint["step"] == 12
    logged_steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").open()]
    assert logged_steps == [10, 12]

    from transformers import AutoTokenizer, CodeGenForCausalLM

    model = CodeGenForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert model.dtype == torch.float32
    assert json.loads((out / "config.json").read_text())["n_layer"] == 2
    ids = tokenizer("def f(x):\n    return", return_tensors="pt").input_ids
    generated = model.generate(ids, max_new_tokens=4, do_sample=False,
                               pad_token_id=tokenizer.eos_token_id)
    assert generated.shape[1] > ids.shape[1]
    card = (out / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "Perplexity" in card and "exact match" in card
    assert f"{model.num_parameters():,}" in card


def test_resumed_run_matches_an_uninterrupted_one(tmp_path: Path) -> None:
    source = tmp_path / "src"
    _write_sources(source, 12)
    weights = []
    for name, pieces in (("straight", [[]]), ("pieces", [["--stop-after-steps", "3"],
                                                         ["--resume"]])):
        common = ["--no-stdlib", "--extra-source", str(source), "--held-out-percent", "25",
                  "--run-dir", str(tmp_path / name), "--output", str(tmp_path / name / "out"),
                  *TOY_MODEL, "--precision", "fp32", "--train-tokens", str(6 * 64),
                  "--skip-eval"]
        for extra in pieces:
            result = _run(*common, *extra)
            assert result.returncode == 0, result.stderr
        weights.append(torch.load(tmp_path / name / "checkpoint.pt", weights_only=False)["model"])
    for key, tensor in weights[0].items():
        assert torch.equal(tensor, weights[1][key]), key


def test_source_file_origin_names_the_root(tmp_path: Path) -> None:
    assert SourceFile(tmp_path, "a/b.py", "").origin == f"{tmp_path.name}/a/b.py"
