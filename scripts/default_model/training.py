"""Training a default model: packed rows, AdamW, warmup-stable-decay, checkpoints.

Every batch is a pure function of (seed, step), and dropout is off, so a run resumed from a
checkpoint takes the same steps it would have taken without stopping.

The schedule is warmup, a constant rate, then a linear decay. A run can also branch a
*cooldown* from its latest checkpoint (`cooldown_steps`): the decay alone, written to its own
file, while the main checkpoint stays in the stable phase and can train on. That is how a
CPU run of unknown length still ships a fully decayed model whenever it has to stop.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import CodeGenConfig

from .train_model import TrainableCodeGen

CHECKPOINT_NAME = "checkpoint.pt"
COOLDOWN_NAME = "cooldown.pt"


@dataclass(frozen=True)
class ModelShape:
    vocab_size: int = 8192
    n_embd: int = 256  # width of the residual stream
    n_layer: int = 6
    n_head: int = 8  # CodeGen splits qkv in 4 groups, so this must be divisible by 4
    rotary_dim: int = 16  # rotary embedding applies to the first rotary_dim dims of each head
    n_positions: int = 512  # longest sequence the rotary tables are built for

    def config(self, end_of_text_id: int) -> CodeGenConfig:
        if self.n_head % 4 or self.n_embd % self.n_head:
            raise SystemExit("n_head must divide n_embd and be a multiple of 4 (CodeGen)")
        return CodeGenConfig(
            vocab_size=self.vocab_size,
            n_positions=self.n_positions,
            n_ctx=self.n_positions,
            n_embd=self.n_embd,
            n_layer=self.n_layer,
            n_head=self.n_head,
            rotary_dim=self.rotary_dim,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            bos_token_id=end_of_text_id,
            eos_token_id=end_of_text_id,
            pad_token_id=end_of_text_id,
            tie_word_embeddings=False,
        )


@dataclass(frozen=True)
class TrainSettings:
    # The run length is either a token budget (deterministic) or a wall-time budget: on
    # shared or unknown hardware the time budget picks the step count during the run, and
    # the run records it, so `train_tokens = steps * tokens_per_step` replays it exactly.
    train_tokens: int | None
    time_budget_minutes: float | None = None
    seq_len: int = 512  # tokens per training window
    batch_size: int = 4  # windows per step
    peak_lr: float = 2e-3
    min_lr_ratio: float = 0.05  # the decay ends at peak_lr * min_lr_ratio
    warmup_steps: int = 50
    decay_fraction: float = 0.25  # the last quarter of the steps decays the learning rate
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 1234
    checkpoint_minutes: float = 4.0  # wall time between checkpoints
    bf16: bool = False  # autocast matmuls to bfloat16 (fast on CPUs with AMX and on GPUs)

    @property
    def tokens_per_step(self) -> int:
        return self.seq_len * self.batch_size

    @property
    def total_steps(self) -> int | None:
        if self.train_tokens is None:
            return None
        return max(1, self.train_tokens // self.tokens_per_step)


def learning_rate(step: int, total_steps: int | None, settings: TrainSettings,
                  decay_start: int | None = None) -> float:
    """Warmup, constant, then linear decay over the last decay_fraction of total_steps
    (or from decay_start, for a cooldown branch).

    This warmup-stable-decay shape lets a time-budgeted run fix its length late (while the
    rate is still constant) and still end with a full decay; total_steps is None until then.
    """
    if step < settings.warmup_steps:
        return settings.peak_lr * (step + 1) / settings.warmup_steps
    if total_steps is None:
        return settings.peak_lr
    if decay_start is None:
        decay_start = decay_start_step(total_steps, settings)
    if step < decay_start:
        return settings.peak_lr
    progress = min(1.0, (step - decay_start + 1) / max(1, total_steps - decay_start))
    return settings.peak_lr * (1 - (1 - settings.min_lr_ratio) * progress)


def decay_start_step(total_steps: int, settings: TrainSettings) -> int:
    return max(settings.warmup_steps, round(total_steps * (1 - settings.decay_fraction)))


@functools.lru_cache(maxsize=2)
def _epoch_order(seed: int, epoch: int, count: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(count)


def batch_for_step(rows: np.ndarray, masks: np.ndarray, step: int,
                   settings: TrainSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows [B, T+1] and their target masks: each epoch visits every row once, in an order
    drawn from (seed, epoch)."""
    if rows.shape[1] != settings.seq_len + 1:
        raise SystemExit(f"the rows hold {rows.shape[1] - 1} positions, not --seq-len "
                         f"{settings.seq_len}: rebuild them")
    first = step * settings.batch_size
    picked = []
    for position in range(first, first + settings.batch_size):
        epoch, offset = divmod(position, len(rows))
        picked.append(_epoch_order(settings.seed, epoch, len(rows))[offset])
    tokens = torch.from_numpy(rows[picked].astype(np.int64))
    return tokens, torch.from_numpy(masks[picked])


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _optimizer(model: torch.nn.Module, settings: TrainSettings) -> torch.optim.AdamW:
    # No weight decay on biases and layer norms, as usual for transformers.
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": settings.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=settings.peak_lr, betas=(0.9, 0.95), eps=1e-8)


def save_checkpoint(path: Path, state: dict) -> None:
    """Write atomically, so a run killed mid-save keeps its previous checkpoint."""
    partial = path.with_suffix(".partial")
    torch.save(state, partial)
    os.replace(partial, path)


def load_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def masked_loss(logits: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross entropy over the positions the mask trains."""
    losses = torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1), reduction="none"
    )
    weights = mask[:, 1:].reshape(-1).float()
    return (losses * weights).sum() / weights.sum().clamp(min=1)


def train(
    rows: np.ndarray,
    masks: np.ndarray,
    shape: ModelShape,
    settings: TrainSettings,
    end_of_text_id: int,
    run_dir: Path,
    resume: bool,
    log: Callable[[str], None],
    stop_after_steps: int | None = None,
    cooldown_steps: int | None = None,
) -> dict:
    """Train (or continue) the run in run_dir; returns the last checkpoint state.

    stop_after_steps ends this invocation early (with a checkpoint) so that a run can be
    trained in pieces with resume; the schedule is unchanged by it. cooldown_steps branches
    a decay of that many steps from the main checkpoint into COOLDOWN_NAME.
    """
    torch.manual_seed(settings.seed)
    device = pick_device()
    model = TrainableCodeGen(shape.config(end_of_text_id)).to(device)
    optimizer = _optimizer(model, settings)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    step, elapsed, total_steps = 0, 0.0, settings.total_steps
    decay_start = None
    if settings.time_budget_minutes is None and total_steps is None:
        raise SystemExit("give a token budget or a time budget")
    if cooldown_steps is not None:
        if not checkpoint_path.exists():
            raise SystemExit(f"--cooldown-steps: no checkpoint at {checkpoint_path} to branch")
        resume = True
    if resume and checkpoint_path.exists():
        state = load_checkpoint(checkpoint_path)
        if state["shape"] != asdict(shape) or state["settings"] != asdict(settings):
            raise SystemExit("--resume: the checkpoint was made with other settings")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed, total_steps = state["step"], state["elapsed_s"], state["total_steps"]
        log(f"resumed at step {step} ({elapsed:.0f}s trained so far)")
    if cooldown_steps is not None:
        decay_start, total_steps = step, step + cooldown_steps
        checkpoint_path = run_dir / COOLDOWN_NAME
        log(f"cooldown: decaying the rate over steps {step}..{total_steps} into "
            f"{checkpoint_path.name}")
    parameters = sum(p.numel() for p in model.parameters())
    log(f"device={device} parameters={parameters} steps={total_steps or 'by time'} "
        f"tokens/step={settings.tokens_per_step}")

    def state_dict() -> dict:
        return {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "total_steps": total_steps,
            "elapsed_s": elapsed,
            "tokens_seen": step * settings.tokens_per_step,
            "shape": asdict(shape),
            "settings": asdict(settings),
            "parameters": parameters,
            "device": str(device),
            "cooldown_from": decay_start,
        }

    model.train()
    metrics_name = "metrics.jsonl" if cooldown_steps is None else "cooldown_metrics.jsonl"
    metrics = (run_dir / metrics_name).open("a", encoding="utf-8")
    last_save = time.monotonic()
    window_start, window_loss, window_steps = time.monotonic(), 0.0, 0
    # A cooldown's length is its step count, whatever the main run's time budget was.
    budget_s = (settings.time_budget_minutes or 0) * 60 if cooldown_steps is None else 0
    first_step = step
    while total_steps is None or step < total_steps:
        if stop_after_steps is not None and step - first_step >= stop_after_steps:
            log(f"stopping at step {step} as asked; continue with --resume")
            break
        if total_steps is None and elapsed >= budget_s * (1 - settings.decay_fraction):
            total_steps = max(step + 1, math.ceil(step / (1 - settings.decay_fraction)))
            log(f"time budget: the run will stop after {total_steps} steps "
                f"(replay with train_tokens={total_steps * settings.tokens_per_step})")
        if budget_s and elapsed >= budget_s * 1.1:
            log(f"stopping at step {step}: 10% past the time budget, before the decay ended")
            break
        started = time.monotonic()
        lr = learning_rate(step, total_steps, settings, decay_start)
        for group in optimizer.param_groups:
            group["lr"] = lr
        tokens, mask = (t.to(device) for t in batch_for_step(rows, masks, step, settings))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=settings.bf16):
            logits = model(tokens[:, :-1])
        loss = masked_loss(logits, tokens, mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimizer.step()
        step += 1
        elapsed += time.monotonic() - started
        window_loss += loss.item()
        window_steps += 1
        if step % 10 == 0 or step == total_steps:
            rate = window_steps * settings.tokens_per_step / (time.monotonic() - window_start)
            record = {"step": step, "loss": window_loss / window_steps, "lr": lr,
                      "tokens_per_s": round(rate), "elapsed_s": round(elapsed, 1)}
            metrics.write(json.dumps(record) + "\n")
            metrics.flush()
            log(f"step {step}/{total_steps or '?'} loss {record['loss']:.4f} "
                f"lr {lr:.2e} {rate:.0f} tok/s")
            window_start, window_loss, window_steps = time.monotonic(), 0.0, 0
        if time.monotonic() - last_save > settings.checkpoint_minutes * 60:
            save_checkpoint(checkpoint_path, state_dict())
            last_save = time.monotonic()
    metrics.close()
    final = state_dict()
    save_checkpoint(checkpoint_path, final)
    return final
