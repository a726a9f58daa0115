"""A compact CodeGen in plain torch: Hugging Face weights, prefill and decode over a KV cache.

It follows gpt-fast's ``model.py``: a few small modules, a preallocated KV cache written in
place, and a forward that takes the tokens plus the position they start at. It computes
exactly what transformers' ``modeling_codegen.py`` computes (same rotary table, same fused
qkv layout, parallel-residual blocks), so its logits match ``CodeGenForCausalLM``; the
parameter names are the Hugging Face ones, so a checkpoint loads without renaming.

The model knows nothing about tensor parallelism: ``tp`` shards it by module surgery.
The only seam it offers is ``Block.branch_sum``, a no-op where the attention and MLP partial
sums meet, so that one all-reduce per layer can be hooked in there. It deliberately does not
import transformers (tensor-parallel ranks start faster without it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from codegend.engine.errors import ModelSourceError
from codegend.engine.torch.checkpoint import read_hf_weights

# transformers' CodeGen reshapes the fused qkv projection into ``mp_num = 4`` blocks (the
# TPU-v4 cores it was trained on), each holding query, value and key for a quarter of the heads.
QKV_BLOCKS = 4
ACTIVATIONS = {"gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu": "none"}


@dataclass(frozen=True)
class CodeGenShape:
    """The hyper-parameters of a CodeGen checkpoint (its ``config.json``)."""

    vocab_size: int  # rows of the embedding and of the LM head
    n_positions: int  # longest sequence the rotary table covers
    n_embd: int  # model width
    n_layer: int  # transformer blocks
    n_head: int  # attention heads (divisible by QKV_BLOCKS)
    rotary_dim: int  # leading dimensions of each head that get rotary embeddings
    n_inner: int  # MLP width
    layer_norm_epsilon: float
    activation: str  # a key of ACTIVATIONS

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @classmethod
    def from_config(cls, config: dict, where: str = "config.json") -> CodeGenShape:
        try:
            n_embd, n_head = int(config["n_embd"]), int(config["n_head"])
            shape = cls(
                vocab_size=int(config["vocab_size"]),
                n_positions=int(config.get("n_positions") or config.get("n_ctx") or 2048),
                n_embd=n_embd,
                n_layer=int(config["n_layer"]),
                n_head=n_head,
                rotary_dim=int(config.get("rotary_dim") or n_embd // n_head),
                n_inner=int(config.get("n_inner") or 4 * n_embd),
                layer_norm_epsilon=float(config.get("layer_norm_epsilon", 1e-5)),
                activation=str(config.get("activation_function", "gelu_new")),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ModelSourceError(f"{where}: not a CodeGen config ({err!r})") from err
        if shape.n_embd % shape.n_head or shape.n_head % QKV_BLOCKS:
            raise ModelSourceError(
                f"{where}: n_head={n_head} must divide n_embd={n_embd} and be a multiple of "
                f"{QKV_BLOCKS} (CodeGen's fused qkv layout)"
            )
        if shape.activation not in ACTIVATIONS:
            raise ModelSourceError(f"{where}: unsupported activation {shape.activation!r}")
        return shape

    @classmethod
    def from_model_dir(cls, model_dir: Path) -> CodeGenShape:
        path = Path(model_dir) / "config.json"
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ModelSourceError(f"{path}: cannot read the model config ({err})") from err
        return cls.from_config(config, str(path))


def rotary_table(n_positions: int, rotary_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """sin and cos, each ``[n_positions, rotary_dim // 2]``, computed as transformers does."""
    exponents = torch.arange(0, rotary_dim, 2, dtype=torch.int64) / rotary_dim
    inv_freq = 1.0 / (10000**exponents)
    angles = torch.outer(torch.arange(n_positions, dtype=torch.int64).float(), inv_freq)
    return torch.sin(angles), torch.cos(angles)


def apply_rotary(x: torch.Tensor, sin: torch.Tensor, cos: torch.Tensor) -> torch.Tensor:
    """GPT-J style rotation of interleaved pairs. x: [B, T, H, R]; sin, cos: [T, R/2]."""
    sin, cos = sin[None, :, None, :], cos[None, :, None, :]
    even, odd = x[..., ::2].float(), x[..., 1::2].float()
    rotated = torch.stack((even * cos - odd * sin, odd * cos + even * sin), dim=-1)
    return rotated.flatten(-2).to(x.dtype)


class KVCache(nn.Module):
    """Preallocated keys and values of one layer, written in place at their positions.

    ``start`` is a Python int on the eager path (prefill, and decode without compilation),
    or a one-element tensor on the static decode path (``static_decode``), whose shapes do
    not depend on the position so that torch.compile and CUDA graphs can capture it once.
    """

    def __init__(self, n_heads: int, max_len: int, head_dim: int, dtype, device) -> None:
        super().__init__()
        shape = (1, n_heads, max_len, head_dim)
        self.register_buffer("k", torch.zeros(shape, dtype=dtype, device=device), False)
        self.register_buffer("v", torch.zeros(shape, dtype=dtype, device=device), False)

    def update(self, start: int | torch.Tensor, k: torch.Tensor, v: torch.Tensor):
        """Store k, v ([1, H, T, D]) at ``start``; return every cached position up to them
        (static decode: the whole buffer, which ``attention_mask`` limits)."""
        if isinstance(start, torch.Tensor):
            self.k.index_copy_(2, start, k)
            self.v.index_copy_(2, start, v)
            return self.k, self.v
        end = start + k.shape[2]
        self.k[:, :, start:end] = k
        self.v[:, :, start:end] = v
        return self.k[:, :, :end], self.v[:, :, :end]


class Attention(nn.Module):
    def __init__(self, shape: CodeGenShape) -> None:
        super().__init__()
        self.qkv_proj = nn.Linear(shape.n_embd, 3 * shape.n_embd, bias=False)
        self.out_proj = nn.Linear(shape.n_embd, shape.n_embd, bias=False)
        self.n_heads = shape.n_head  # heads this module computes (a shard has fewer)
        self.qkv_blocks = QKV_BLOCKS  # blocks of [query, value, key] in qkv_proj's rows
        self.head_dim = shape.head_dim
        self.rotary_dim = shape.rotary_dim
        self.kv_cache: KVCache | None = None

    def forward(self, x: torch.Tensor, start: int | torch.Tensor, sin, cos) -> torch.Tensor:
        b, t, _ = x.shape
        per_block = self.n_heads // self.qkv_blocks
        qkv = self.qkv_proj(x).view(b, t, self.qkv_blocks, 3, per_block, self.head_dim)
        q, v, k = (qkv[:, :, :, i].reshape(b, t, self.n_heads, self.head_dim) for i in range(3))
        r = self.rotary_dim
        q = torch.cat((apply_rotary(q[..., :r], sin, cos), q[..., r:]), dim=-1)
        k = torch.cat((apply_rotary(k[..., :r], sin, cos), k[..., r:]), dim=-1)
        q, k, v = (a.transpose(1, 2) for a in (q, k, v))  # [B, H, T, D]
        assert self.kv_cache is not None, "call setup_caches() before running the model"
        k, v = self.kv_cache.update(start, k, v)  # [B, H, start + T (static: max_len), D]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask(start, t, k.shape[2],
                                                                              x.device))
        return self.out_proj(y.transpose(1, 2).reshape(b, t, self.n_heads * self.head_dim))


def attention_mask(start: int | torch.Tensor, t: int, keys: int, device) -> torch.Tensor | None:
    """Which of ``keys`` cached positions each of the ``t`` queries sees (None: all of them).

    Query i sits at position start + i and sees every key up to there. On the static decode
    path (one query, ``start`` a tensor) the keys are the whole buffer, stale tail included.
    """
    if not isinstance(start, torch.Tensor) and t == 1:
        return None
    return torch.arange(keys, device=device)[None, :] <= \
        (start + torch.arange(t, device=device))[:, None]  # [t, keys]


class MLP(nn.Module):
    def __init__(self, shape: CodeGenShape) -> None:
        super().__init__()
        self.fc_in = nn.Linear(shape.n_embd, shape.n_inner)
        self.fc_out = nn.Linear(shape.n_inner, shape.n_embd)
        self.approximate = ACTIVATIONS[shape.activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_out(F.gelu(self.fc_in(x), approximate=self.approximate))


class Block(nn.Module):
    """Parallel residual: ``x + attn(ln(x)) + mlp(ln(x))``."""

    def __init__(self, shape: CodeGenShape) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(shape.n_embd, eps=shape.layer_norm_epsilon)
        self.attn = Attention(shape)
        self.mlp = MLP(shape)
        # Where both branches meet: tensor parallelism hooks its single all-reduce here.
        self.branch_sum = nn.Identity()

    def forward(self, x: torch.Tensor, start: int | torch.Tensor, sin, cos) -> torch.Tensor:
        h = self.ln_1(x)
        return x + self.branch_sum(self.attn(h, start, sin, cos) + self.mlp(h))


class Transformer(nn.Module):
    def __init__(self, shape: CodeGenShape) -> None:
        super().__init__()
        # Weights always come from a checkpoint. Passing them in skips the random init, whose
        # normal_() on the meta device would import torch._dynamo (seconds per rank).
        table = torch.zeros(shape.vocab_size, shape.n_embd)
        self.wte = nn.Embedding(shape.vocab_size, shape.n_embd, _weight=table)
        self.h = nn.ModuleList(Block(shape) for _ in range(shape.n_layer))
        self.ln_f = nn.LayerNorm(shape.n_embd, eps=shape.layer_norm_epsilon)


class CodeGenLM(nn.Module):
    """``CodeGenForCausalLM`` for one sequence: ``forward(ids, start)`` -> last logits."""

    def __init__(self, shape: CodeGenShape) -> None:
        super().__init__()
        self.shape = shape
        self.transformer = Transformer(shape)
        self.lm_head = nn.Linear(shape.n_embd, shape.vocab_size)
        self.max_len = 0  # KV cache length; 0 until setup_caches()

    def setup_caches(self, max_len: int) -> None:
        """(Re)allocate KV caches and the rotary table on the weights' device; idempotent."""
        max_len = min(max_len, self.shape.n_positions)
        weight = self.transformer.wte.weight
        for block in self.transformer.h:
            attn = block.attn
            cache = attn.kv_cache
            if cache is None or cache.k.shape[1:3] != (attn.n_heads, max_len) \
                    or cache.k.dtype != weight.dtype or cache.k.device != weight.device:
                attn.kv_cache = KVCache(
                    attn.n_heads, max_len, attn.head_dim, weight.dtype, weight.device
                )
        sin, cos = rotary_table(max_len, self.shape.rotary_dim)
        self.register_buffer("rotary_sin", sin.to(weight.device), persistent=False)
        self.register_buffer("rotary_cos", cos.to(weight.device), persistent=False)
        self.max_len = max_len

    def forward(self, input_ids: torch.Tensor, start: int | torch.Tensor,
                all_positions: bool = False):
        """input_ids: [1, T] at positions start..start+T-1 -> float logits [V] (or [T, V]).

        ``start`` a one-element tensor: the static decode step (T == 1), see ``KVCache``."""
        t = input_ids.shape[1]
        if isinstance(start, torch.Tensor):
            assert t == 1, "the static path decodes one token"
            sin, cos = self.rotary_sin[start], self.rotary_cos[start]  # [1, R/2]
        else:
            assert start + t <= self.max_len, \
                f"{start + t} positions exceed the cache ({self.max_len})"
            sin, cos = self.rotary_sin[start : start + t], self.rotary_cos[start : start + t]
        x = self.transformer.wte(input_ids)
        for block in self.transformer.h:
            x = block(x, start, sin, cos)
        x = self.transformer.ln_f(x)[0]  # [T, E]
        logits = self.lm_head(x if all_positions else x[-1])
        # A vocabulary-parallel head may pad the vocabulary to a multiple of the world size.
        return logits[..., : self.shape.vocab_size].float()


def load_codegen(
    model_dir: Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> CodeGenLM:
    """The model with its weights in ``dtype`` on ``device`` (call setup_caches() to run it)."""
    model = codegen_on_meta(CodeGenShape.from_model_dir(model_dir))
    assign_weights(model, read_hf_weights(Path(model_dir)), str(model_dir))
    return model.to(device=device, dtype=dtype).eval()


def codegen_on_meta(shape: CodeGenShape) -> CodeGenLM:
    """An empty model: no memory is allocated until weights are assigned."""
    with torch.device("meta"):
        return CodeGenLM(shape).eval().requires_grad_(False)


def assign_weights(model: CodeGenLM, state: dict[str, torch.Tensor], where: str) -> None:
    """Take the checkpoint's tensors as the parameters (no copy); ignore its extra buffers."""
    wanted = model.state_dict().keys()
    if "lm_head.weight" not in state and "transformer.wte.weight" in state:
        state = {**state, "lm_head.weight": state["transformer.wte.weight"]}  # tied head
    missing = [key for key in wanted if key not in state]
    if missing:
        raise ModelSourceError(f"{where}: the weights lack {', '.join(missing[:3])}")
    for key in wanted:
        expected, got = tuple(model.state_dict()[key].shape), tuple(state[key].shape)
        if expected != got:
            raise ModelSourceError(f"{where}: {key} has shape {got}, config says {expected}")
    model.load_state_dict({key: state[key] for key in wanted}, assign=True)
    model.requires_grad_(False)
