"""Decoding one token without per-step host overhead: one compiled step at static shapes.

Eager PyTorch launches some thirty kernels per layer from Python for every token; on a fast
GPU the launches, not the weight reads, set the pace. Like gpt-fast's ``decode_one_token``,
the step here always has the same shapes (the token at a position held in a tensor, the
whole preallocated KV cache attended under a mask, see ``codegen.KVCache``), so
``torch.compile`` traces it once and, on CUDA, ``mode="reduce-overhead"`` records it as a
CUDA graph that each token replays. The tensor-parallel collectives hooked into the model
(``tp``) are traced into the same graph. Prefill keeps the eager path: its length varies.

The KV cache buffers must stay where they are once a step has been compiled (CUDA graphs
replay on fixed addresses): ``setup_caches`` comes first, and every later write, the eager
prefill's included, is in place.

Where torch.compile cannot run on a GPU host (Triton needs a C compiler for its launcher),
the eager static step is captured as a plain CUDA graph instead: the launches go away, the
kernel fusion does not. ``mode`` says which of "compiled", "cuda-graph" or "eager" runs.
"""

from __future__ import annotations

import logging

import torch

from codegend.engine.torch.codegen import CodeGenLM

log = logging.getLogger(__name__)

WARMUP_STEPS = 3  # cudagraph trees run eagerly once, record on the next call, then replay


class StaticDecoder:
    """``decoder(token, position)`` -> float logits ``[V]`` of one token, compiled or not."""

    def __init__(self, model: CodeGenLM, compile: bool = True) -> None:
        assert model.max_len > 0, "call setup_caches() before building the decoder"
        self.model = model
        self.device = model.transformer.wte.weight.device
        self.mode = "compiled" if compile else "eager"
        # Fixed input buffers: a step writes into them instead of allocating new tensors.
        self._token = torch.zeros((1, 1), dtype=torch.long, device=self.device)
        self._position = torch.zeros(1, dtype=torch.long, device=self.device)
        self._step = model.forward
        if compile:
            mode = "reduce-overhead" if self.device.type == "cuda" else None
            self._step = torch.compile(model.forward, mode=mode, fullgraph=True, dynamic=False)

    def __call__(self, token: torch.Tensor | int, position: int) -> torch.Tensor:
        """Logits after ``token`` (a 1-element tensor on the model's device, or an int) at
        ``position``. On CUDA the result is the graph's output buffer, valid until the next
        step: copy it (``.cpu()``) before stepping again."""
        assert 0 <= position < self.model.max_len
        if isinstance(token, torch.Tensor):
            self._token.copy_(token.view(1, 1))
        else:
            self._token.fill_(token)
        self._position.fill_(position)
        return self._step(self._token, self._position)

    def warm_up(self) -> None:
        """Compile (and on CUDA record) the step now rather than on the first request. It
        writes position 0 of the cache, which every request's prefill overwrites first."""
        if self.mode == "compiled":
            try:
                for _ in range(WARMUP_STEPS):
                    self(0, 0)
            except Exception as err:  # dynamo and inductor raise many types
                if self.device.type != "cuda":
                    raise
                log.warning("torch.compile failed on %s (%s); capturing the eager decode step "
                            "as a CUDA graph instead", self.device, err)
                self._step = self._captured_eager_step()
                self.mode = "cuda-graph"
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _captured_eager_step(self):
        """The eager static step recorded once with torch.cuda.graph; replays reuse its
        buffers (the inputs are ``_token`` and ``_position``, the output is fixed)."""
        forward = self.model.forward
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):  # warm-up off the capture, as torch.cuda.graph asks
            for _ in range(2):
                forward(self._token, self._position)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            logits = forward(self._token, self._position)

        def replay(_token: torch.Tensor, _position: torch.Tensor) -> torch.Tensor:
            graph.replay()
            return logits

        return replay
