"""CodeGen for training: the same weights and numerics as transformers' CodeGenForCausalLM,
with PyTorch's fused scaled-dot-product attention.

transformers' CodeGen computes attention by hand (an fp32 matmul, a mask, a softmax), which
makes a CPU training step about 1.5x slower than SDPA on the small shapes we train. This
module keeps the Hugging Face parameter names and the fused qkv layout (4 blocks of query,
value, key), so `state_dict()` loads into CodeGenForCausalLM unchanged; a test pins that
both give the same logits. Training only: no KV cache, whole sequences, causal.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import CodeGenConfig

QKV_BLOCKS = 4  # transformers' CodeGen splits qkv_proj's rows into 4 blocks of [q, v, k]


def rotary_tables(n_positions: int, rotary_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """sin and cos, [n_positions, rotary_dim // 2], as transformers builds them."""
    inv_freq = 1.0 / (10000 ** (torch.arange(0, rotary_dim, 2, dtype=torch.int64) / rotary_dim))
    angles = torch.outer(torch.arange(n_positions, dtype=torch.int64).float(), inv_freq)
    return torch.sin(angles), torch.cos(angles)


def rotate_pairs(x: torch.Tensor, sin: torch.Tensor, cos: torch.Tensor) -> torch.Tensor:
    """GPT-J rotation of interleaved pairs; x: [B, T, H, R], sin/cos: [T, 1, R/2]."""
    even, odd = x[..., ::2], x[..., 1::2]
    return torch.stack((even * cos - odd * sin, odd * cos + even * sin), dim=-1).flatten(-2)


class Attention(nn.Module):
    def __init__(self, config: CodeGenConfig) -> None:
        super().__init__()
        self.qkv_proj = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)
        self.out_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.rotary_dim = config.rotary_dim or self.head_dim

    def forward(self, x: torch.Tensor, sin: torch.Tensor, cos: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        per_block = self.n_head // QKV_BLOCKS
        qkv = self.qkv_proj(x).view(b, t, QKV_BLOCKS, 3, per_block, self.head_dim)
        q, v, k = (qkv[:, :, :, i].reshape(b, t, self.n_head, self.head_dim) for i in range(3))
        r = self.rotary_dim
        q = torch.cat((rotate_pairs(q[..., :r], sin, cos), q[..., r:]), dim=-1)
        k = torch.cat((rotate_pairs(k[..., :r], sin, cos), k[..., r:]), dim=-1)
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                           v.transpose(1, 2), is_causal=True)  # [B, H, T, D]
        return self.out_proj(y.transpose(1, 2).reshape(b, t, d))


class MLP(nn.Module):
    def __init__(self, config: CodeGenConfig) -> None:
        super().__init__()
        inner = config.n_inner or 4 * config.n_embd
        self.fc_in = nn.Linear(config.n_embd, inner)
        self.fc_out = nn.Linear(inner, config.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_out(F.gelu(self.fc_in(x), approximate="tanh"))  # gelu_new


class Block(nn.Module):
    """Parallel residual: x + attn(ln(x)) + mlp(ln(x))."""

    def __init__(self, config: CodeGenConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = Attention(config)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, sin: torch.Tensor, cos: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        return x + self.attn(h, sin, cos) + self.mlp(h)


class Transformer(nn.Module):
    def __init__(self, config: CodeGenConfig) -> None:
        super().__init__()
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.h = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)


class TrainableCodeGen(nn.Module):
    """forward(ids [B, T]) -> logits [B, T, V]; parameters named as in CodeGenForCausalLM."""

    def __init__(self, config: CodeGenConfig) -> None:
        super().__init__()
        self.transformer = Transformer(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size)
        sin, cos = rotary_tables(config.n_positions, config.rotary_dim or
                                 config.n_embd // config.n_head)
        self.register_buffer("sin", sin[:, None, :], persistent=False)  # [P, 1, R/2]
        self.register_buffer("cos", cos[:, None, :], persistent=False)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # transformers' CodeGen initialization: N(0, 0.02) weights, zero biases.
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        sin, cos = self.sin[:t], self.cos[:t]
        h = self.transformer.wte(ids)
        for block in self.transformer.h:
            h = block(h, sin, cos)
        return self.lm_head(self.transformer.ln_f(h))
