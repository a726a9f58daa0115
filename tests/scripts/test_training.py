"""Training a default model, for real at toy size: the schedule, the batches, the trainable
CodeGen against transformers', and the script end to end (prepare, train, resume, cooldown,
export, evaluate) producing a loadable fill-in-the-middle model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from default_model.train_model import TrainableCodeGen
from default_model.training import (
    ModelShape,
    TrainSettings,
    batch_for_step,
    decay_start_step,
    learning_rate,
)

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_default_model.py"
TOY_MODEL = ["--vocab-size", "400", "--n-embd", "32", "--n-layer", "2", "--n-head", "4",
             "--rotary-dim", "4", "--n-positions", "128", "--seq-len", "32",
             "--batch-size", "2", "--warmup-steps", "2", "--threads", "1"]


def _write_sources(root: Path) -> None:
    for package in ("alpha", "beta", "gamma"):
        for index in range(4):
            body = "".join(
                f"def {package}_{index}_{n}(value, other=None):\n"
                f"    \"\"\"Return value plus {n}.\"\"\"\n"
                f"    if other is None:\n        other = {n} * {index}\n"
                f"    return value + other\n\n\n"
                for n in range(30))
            path = root / package / f"module_{index}.py"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"import os\n\n\n{body}", encoding="utf-8")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                          text=True, timeout=240, check=False)


def _common(tmp_path: Path, name: str) -> list[str]:
    source = tmp_path / "src"
    if not source.exists():
        _write_sources(source)
    return ["--no-stdlib", "--distributions", "--held-out", "gamma",
            *(arg for package in ("alpha", "beta", "gamma")
              for arg in ("--extra-source", str(source / package))),
            "--run-dir", str(tmp_path / name), "--output", str(tmp_path / name / "out"),
            *TOY_MODEL]


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
    # A cooldown branch decays from where it branched.
    assert learning_rate(60, 80, settings, decay_start=60) == pytest.approx(1e-3 * (1 - 0.9 / 20))


def test_batches_visit_every_row_once_per_epoch_and_depend_only_on_seed_and_step() -> None:
    rows = np.arange(10 * 17, dtype=np.uint16).reshape(10, 17)
    masks = np.ones_like(rows, dtype=bool)
    settings = TrainSettings(train_tokens=10_000, seq_len=16, batch_size=2)
    seen = [batch_for_step(rows, masks, step, settings)[0][:, 0].tolist() for step in range(5)]
    assert sorted(v for pair in seen for v in pair) == list(range(0, 170, 17))
    again = batch_for_step(rows, masks, 3, settings)[0]
    assert torch.equal(again, batch_for_step(rows, masks, 3, settings)[0])
    with pytest.raises(SystemExit, match="rebuild"):
        batch_for_step(rows, masks, 0, TrainSettings(train_tokens=1, seq_len=8, batch_size=1))


def test_trainable_codegen_computes_what_transformers_computes() -> None:
    from transformers import CodeGenForCausalLM

    config = ModelShape(vocab_size=300, n_embd=64, n_layer=2, n_head=8, rotary_dim=4,
                        n_positions=64).config(end_of_text_id=0)
    torch.manual_seed(0)
    ours = TrainableCodeGen(config).eval()
    reference = CodeGenForCausalLM(config).eval()
    reference.load_state_dict(ours.state_dict())
    ids = torch.randint(0, 300, (2, 40))
    with torch.no_grad():
        assert torch.allclose(ours(ids), reference(input_ids=ids).logits, atol=1e-5)


def test_toy_run_trains_resumes_cools_down_exports_and_evaluates(tmp_path: Path) -> None:
    common = [*_common(tmp_path, "run"), "--train-tokens", str(12 * 64)]
    first = _run(*common, "--stop-after-steps", "5")
    assert first.returncode == 0, first.stderr
    run_dir, out = tmp_path / "run", tmp_path / "run" / "out"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert {r["package"]: r["split"] for r in manifest["packages"]} == {
        "alpha": "train", "beta": "train", "gamma": "held-out"}
    assert not (out / "config.json").exists()
    refused = _run(*common)
    assert refused.returncode != 0 and "--resume" in refused.stderr
    second = _run(*common, "--resume", "--skip-eval")
    assert second.returncode == 0, second.stderr
    assert torch.load(run_dir / "checkpoint.pt", weights_only=False)["step"] == 12
    cooled = _run(*common, "--cooldown-steps", "4", "--eval-positions", "8")
    assert cooled.returncode == 0, cooled.stderr
    cooldown = torch.load(run_dir / "cooldown.pt", weights_only=False)
    assert cooldown["step"] == 16 and cooldown["cooldown_from"] == 12
    assert torch.load(run_dir / "checkpoint.pt", weights_only=False)["step"] == 12

    from transformers import AutoTokenizer, CodeGenForCausalLM

    model = CodeGenForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    fim = tokenizer.convert_tokens_to_ids(["<fim_prefix>", "<fim_middle>", "<fim_suffix>"])
    assert fim == [1, 2, 3]
    ids = torch.tensor([[1, *tokenizer("def f(x):\n")["input_ids"], 3,
                         *tokenizer("\n    return y\n")["input_ids"], 2]])
    generated = model.generate(ids, max_new_tokens=4, do_sample=False, pad_token_id=0)
    assert generated.shape[1] > ids.shape[1]
    assert (out / "loss.png").stat().st_size > 1000
    assert (out / "heldout_files.txt").is_file()  # empty: gamma is not installed with codegend
    report = json.loads((run_dir / "evaluation.json").read_text())
    assert set(report["scores"]) == {"line start", "after =", "after (", "infill"}
    card = (out / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "Perplexity" in card and "infill" in card and f"{model.num_parameters():,}" in card


def test_resumed_run_matches_an_uninterrupted_one(tmp_path: Path) -> None:
    weights = []
    for name, pieces in (("straight", [[]]), ("pieces", [["--stop-after-steps", "3"],
                                                         ["--resume"]])):
        common = [*_common(tmp_path, name), "--precision", "fp32",
                  "--train-tokens", str(6 * 64), "--skip-eval"]
        for extra in pieces:
            result = _run(*common, *extra)
            assert result.returncode == 0, result.stderr
        weights.append(torch.load(tmp_path / name / "checkpoint.pt", weights_only=False)["model"])
    for key, tensor in weights[0].items():
        assert torch.equal(tensor, weights[1][key]), key
