"""The one-token decode step at fixed shapes and addresses, so a CUDA graph can replay it.

A CUDA graph replays the kernels it recorded, on the buffers it recorded them with, and
ONNX Runtime runs the nodes it keeps on the CPU (the shape arithmetic) only while it
captures. So every decode step must look exactly alike to the session:
  * the KV cache is the fused graph's shared in-place buffer, allocated at its full length
    once (the stepper never grows it while a decode graph is bound to it);
  * ``input_ids`` [1, 1] and ``logits`` [1, 1, vocab] are fixed buffers;
  * ``attention_mask`` is [1, capacity]: ones on the positions the step attends to, zeros
    after. GroupQueryAttention then takes its total length from the mask's shape (the same
    every step) and the step's own length from the mask's sum (``seqlens_k``, computed on
    the GPU inside the graph), which is also where its rotary position comes from.
Prefill (several tokens) runs uncaptured, with its own shapes, through the stepper's normal
path. On the CPU provider the same static step simply runs uncaptured, which lets the tests
check that the padded mask gives the logits of the exact one.
"""

from __future__ import annotations

from codegend.engine.onnx.binding import (
    DECODE_GRAPH_ID,
    UNCAPTURED,
    bind_tensor,
    run_options,
    wait_for_torch,
)


class DecodeGraph:
    """Static buffers plus one IO binding for the decode step of one session."""

    def __init__(self, session, cache_names: list[tuple[str, str]], vocab_size: int,
                 logits_dtype, device, capture: bool) -> None:
        import torch

        self.session = session
        self.cache_names = cache_names  # (past input, present output) per cache tensor
        self.device = device
        self.capture = capture  # False: the same static step, run uncaptured (CPU, tests)
        self._token = torch.zeros((1, 1), dtype=torch.int64, device=device)
        self._logits = torch.empty((1, 1, vocab_size), dtype=logits_dtype, device=device)
        self._mask = torch.zeros((1, 0), dtype=torch.int64, device=device)
        self._positions = torch.zeros(0, dtype=torch.int64, device=device)
        self._options = run_options(DECODE_GRAPH_ID if capture else UNCAPTURED)
        self._binding = None
        self.steps = 0  # decode steps run through this graph

    def bind(self, cache: list) -> None:
        """Bind the full-length cache buffers (and a mask as long as they are). A captured
        graph keeps these addresses: the stepper binds only once per buffer set."""
        import torch

        capacity = cache[0].shape[2]
        self._mask = torch.zeros((1, capacity), dtype=torch.int64, device=self.device)
        self._positions = torch.arange(capacity, dtype=torch.int64, device=self.device)
        binding = self.session.io_binding()
        for (past, present), buffer in zip(self.cache_names, cache, strict=True):
            bind_tensor(binding, past, buffer, is_input=True)
            bind_tensor(binding, present, buffer, is_input=False)
        bind_tensor(binding, "input_ids", self._token, is_input=True)
        bind_tensor(binding, "attention_mask", self._mask, is_input=True)
        bind_tensor(binding, "logits", self._logits, is_input=False)
        self._binding = binding

    @property
    def capacity(self) -> int:
        return self._mask.shape[1]

    def step(self, token: int, total: int):
        """Run ``token`` at position ``total - 1``; its logits ``[1, vocab]`` (a copy: the
        buffer is overwritten by the next step)."""
        import torch

        assert self._binding is not None and 0 < total <= self.capacity
        self._token.fill_(token)
        torch.lt(self._positions, total, out=self._mask[0])  # attend to positions < total
        wait_for_torch(self.device)
        self.session.run_with_iobinding(self._binding, self._options)
        self.steps += 1
        return self._logits[0].clone()
