"""The tensor-parallel group as a :class:`~codegend.engine.stepper.CausalStepper`.

``engine/generate.py`` drives it exactly like the ONNX backend, so sampling, stop rules,
streaming, cancellation (checked between steps; every rank only runs steps rank 0 sends)
and prefix reuse come for free.

The stepper owns the cache length. Every step carries its start position to the ranks, so
``truncate()`` takes effect on all ranks at once with no message: the KV caches are
preallocated, and positions past the start are simply overwritten by the next step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codegend.engine.errors import CodegendError
from codegend.engine.torch.tp_group import TensorParallelError, TPGroup, TPGroupConfig

__all__ = ["TPStepper", "TensorParallelError", "open_tp_stepper"]


class TPStepper:
    def __init__(self, config: TPGroupConfig) -> None:
        self._group = TPGroup(config)
        self._group.start()
        self.vocab_size = self._group.vocab_size
        self.max_positions = self._group.max_positions
        self._length = 0

    @property
    def cached_tokens(self) -> int:
        return self._length

    @property
    def healthy(self) -> bool:
        return self._group.healthy

    @property
    def failure(self) -> str | None:
        """Why the group cannot serve (a rank died, hung or failed); None while healthy."""
        return self._group.failure

    @property
    def rank_pids(self) -> list[int]:
        return self._group.pids

    @property
    def decode_mode(self) -> str:
        """How one-token steps run: "compiled", "cuda-graph" or "eager"."""
        return self._group.decode_mode

    def truncate(self, length: int) -> None:
        if not 0 <= length <= self._length:
            raise CodegendError(
                f"cannot keep {length} cached tokens: the cache holds {self._length}"
            )
        self._length = length

    def feed(self, token_ids: list[int]) -> np.ndarray:
        if not token_ids:
            raise CodegendError("feed needs at least one token")
        if self._length + len(token_ids) > self.max_positions:
            raise CodegendError(
                f"{self._length} cached + {len(token_ids)} new tokens exceed the model's "
                f"{self.max_positions} positions"
            )
        bad = [t for t in token_ids if not 0 <= t < self.vocab_size]
        if bad:
            raise CodegendError(f"token ids outside the vocabulary (0..{self.vocab_size - 1}): "
                                f"{bad[:5]}")
        try:
            logits = self._group.step(self._length, token_ids)
        except TensorParallelError:
            self._length = 0  # the caches died with the ranks
            raise
        self._length += len(token_ids)
        return logits

    def snapshot(self) -> None:
        return None  # the caches live in the rank processes: one live sequence only

    def restore(self, snapshot: object) -> None:
        raise AssertionError("TPStepper keeps no snapshots")

    def restart(self) -> None:
        """Replace the ranks with fresh ones (after a failure); the cache starts empty."""
        self._length = 0
        self._group.restart()

    def close(self) -> None:
        self._length = 0
        self._group.close()


def open_tp_stepper(
    model_dir: Path,
    world_size: int,
    device: str = "cpu",
    dtype: str | None = None,
    int8_weights: bool = False,
    max_positions: int | None = None,
    step_timeout_s: float = 60.0,
    threads_per_rank: int | None = None,
    compile_decode: bool | None = None,
) -> TPStepper:
    """Spawn ``world_size`` ranks serving the CodeGen checkpoint in ``model_dir``.

    device: "cpu" (gloo, for tests and CPU-only hosts) or "cuda" (NCCL, rank r on cuda:r).
    dtype: "float32" | "float16" | "bfloat16"; None picks float32 on cpu, float16 on cuda.
    Raises ModelSourceError for a model that cannot be split or read, TensorParallelError if
    a rank fails while starting. threads_per_rank: CPU threads of each rank (None: the
    cores divided by the world size). compile_decode: one-token steps through the compiled
    static step (``static_decode``; CUDA graphs on GPUs), compiled while the ranks start;
    None: on cuda, not on cpu (where compiling costs more than it saves).
    """
    return TPStepper(
        TPGroupConfig(
            model_dir=Path(model_dir),
            world_size=world_size,
            device=device,
            dtype=dtype,
            int8_weights=int8_weights,
            max_positions=max_positions,
            step_timeout_s=step_timeout_s,
            threads_per_rank=threads_per_rank,
            compile_decode=compile_decode,
        )
    )
