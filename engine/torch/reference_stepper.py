"""The reference backend: the plain transformers CodeGen model with its own KV cache.

``--backend torch`` runs it; tests compare every faster path against it token for token.
"""

from __future__ import annotations

import numpy as np

from codegend.engine.errors import ModelSourceError
from codegend.engine.model_source import ResolvedModel


class TorchStepper:
    def __init__(self, model, max_positions: int, device: str = "cpu") -> None:
        self.model = model
        self.device = device
        self.vocab_size = int(model.config.vocab_size)
        self.max_positions = max_positions
        self._cache = None  # transformers DynamicCache of the cached positions
        self._length = 0

    @property
    def cached_tokens(self) -> int:
        return self._length

    def truncate(self, length: int) -> None:
        assert 0 <= length <= self._length
        if length == 0:
            self._cache = None
        elif length < self._length:
            self._cache.crop(length)
        self._length = length

    verifies_drafts = True  # one forward over several tokens: speculative decoding works

    def feed(self, token_ids: list[int]) -> np.ndarray:
        return self.feed_tail(token_ids, 1)[0]

    def feed_tail(self, token_ids: list[int], tail: int) -> np.ndarray:
        """The logits of the last ``tail`` fed positions, ``[tail, vocab]``."""
        import torch

        assert token_ids, "feed needs at least one token"
        assert 1 <= tail <= len(token_ids)
        ids = torch.tensor([token_ids], dtype=torch.long, device=self.device)
        positions = torch.arange(self._length, self._length + len(token_ids), device=self.device)
        with torch.inference_mode():
            out = self.model(
                input_ids=ids,
                past_key_values=self._cache,
                position_ids=positions.unsqueeze(0),
                use_cache=True,
            )
        self._cache = out.past_key_values
        self._length += len(token_ids)
        return out.logits[0, -tail:].float().cpu().numpy()

    failure: str | None = None  # runs in this process: nothing can fail apart from it

    def snapshot(self) -> None:
        return None  # transformers' cache is updated in place: one live sequence only

    def restore(self, snapshot: object) -> None:
        raise AssertionError("TorchStepper keeps no snapshots")

    def restart(self) -> None:
        self.truncate(0)

    def close(self) -> None:
        self._cache = None
        self.model = None


def load_torch_model(resolved: ResolvedModel, device: str = "cpu", dtype=None):
    """The transformers model in eval mode, with a clear error for unreadable weights."""
    import torch
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(resolved.path), local_files_only=True, dtype=dtype or torch.float32
        )
    except Exception as err:  # corrupt weights surface as many different exception types
        raise ModelSourceError(f"{resolved.path}: cannot load the weights ({err})") from err
    return model.to(device).eval()


def open_torch_stepper(resolved: ResolvedModel, device: str = "cpu") -> TorchStepper:
    return TorchStepper(load_torch_model(resolved, device), resolved.max_positions, device)
