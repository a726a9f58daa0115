"""Weight-only int8 linears: half the weight bytes of fp16, a quarter of fp32.

Decoding one token is bound by reading the weights, so storing them as int8 with one scale
per output channel (symmetric, like gpt-fast's ``quantize.py``) speeds it up about as much as
it shrinks them. Activations stay in the model's dtype; the weight is widened on the fly.
Applied after tensor-parallel sharding, so every rank's scales fit its own rows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Int8WeightOnlyLinear(nn.Module):
    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        scales = weight.abs().amax(dim=1).clamp(min=1e-12) / 127.0  # one per output row
        quantized = torch.round(weight / scales[:, None]).clamp(-127, 127).to(torch.int8)
        dtype = linear.weight.dtype
        self.register_buffer("weight", quantized)
        self.register_buffer("scales", scales.to(dtype))
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach())
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight.to(x.dtype)) * self.scales
        return y if self.bias is None else y + self.bias


def quantize_block_linears(model: nn.Module) -> nn.Module:
    """Replace the four linears of every block (not the embeddings or the LM head) in place."""
    for block in model.transformer.h:
        for parent, name in (
            (block.attn, "qkv_proj"), (block.attn, "out_proj"),
            (block.mlp, "fc_in"), (block.mlp, "fc_out"),
        ):
            setattr(parent, name, Int8WeightOnlyLinear(getattr(parent, name)))
    return model
