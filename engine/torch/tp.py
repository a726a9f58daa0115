"""Megatron-style tensor parallelism for the compact CodeGen, by module surgery.

Like gpt-fast's ``tp.py``: ``apply_tp`` walks the blocks and replaces each linear's weight
with this rank's shard, then hooks in the collectives; the model classes never learn about
parallelism. Per layer:

- ``qkv_proj`` is column-parallel by heads, ``out_proj`` row-parallel;
- ``fc_in`` is column-parallel, ``fc_out`` row-parallel (its bias kept on rank 0 only, so
  the all-reduce adds it once);
- CodeGen blocks are parallel-residual (``x + attn(ln x) + mlp(ln x)``), so the two partial
  sums are added first and share one all-reduce, hooked on ``Block.branch_sum``;
- the LM head is vocabulary-parallel (padded to a multiple of the world size) and gathered.

Embeddings and layer norms are replicated. ``rank`` and ``world_size`` are arguments
everywhere; nothing is read from the environment.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from codegend.engine.errors import ModelSourceError
from codegend.engine.torch.codegen import QKV_BLOCKS, CodeGenLM, CodeGenShape

QUERY, VALUE, KEY = 0, 1, 2  # order of the parts inside one qkv block (transformers' order)


def heads_of_rank(n_head: int, rank: int, world_size: int) -> range:
    per_rank = n_head // world_size
    return range(rank * per_rank, (rank + 1) * per_rank)


def qkv_shard_rows(n_head: int, head_dim: int, rank: int, world_size: int) -> torch.Tensor:
    """Rows of the fused ``qkv_proj`` weight that hold ``rank``'s heads, in its local order.

    transformers views the qkv output as ``QKV_BLOCKS`` blocks; block ``b`` is
    ``[query | value | key]``, each part ``n_head / QKV_BLOCKS`` heads of ``head_dim`` rows, and
    head ``h`` lives in block ``h // per_block`` at slot ``h % per_block``. A rank takes heads
    ``rank * n_head / world_size ...`` and lays them out as ONE block ``[query | value | key]``
    of its own heads, whatever the world size (1, 2, 4, 8, or any divisor of ``n_head``).
    """
    assert n_head % QKV_BLOCKS == 0 and n_head % world_size == 0 and 0 <= rank < world_size
    per_block = n_head // QKV_BLOCKS
    block_rows = 3 * per_block * head_dim
    rows: list[int] = []
    for part in (QUERY, VALUE, KEY):
        for head in heads_of_rank(n_head, rank, world_size):
            block, slot = divmod(head, per_block)
            first = block * block_rows + (part * per_block + slot) * head_dim
            rows.extend(range(first, first + head_dim))
    return torch.tensor(rows, dtype=torch.long)


def check_tp_shape(shape: CodeGenShape, world_size: int, where: str = "model") -> None:
    """A clear error when the model cannot be split ``world_size`` ways."""
    if world_size < 1:
        raise ModelSourceError(f"world_size must be >= 1 (got {world_size})")
    for name, value in (("n_head", shape.n_head), ("n_inner", shape.n_inner)):
        if value % world_size:
            raise ModelSourceError(
                f"{where}: {name}={value} is not divisible by world_size={world_size}; "
                f"choose a world size that divides the number of attention heads"
            )


def apply_tp(model: CodeGenLM, rank: int, world_size: int, group=None) -> CodeGenLM:
    """Keep ``rank``'s shard of every parallel layer and hook in the collectives (in place).

    Works on a model whose weights are on any device (including memory-mapped CPU weights:
    only the shard is copied). With ``world_size == 1`` only the qkv layout is normalized.
    """
    shape = model.shape
    check_tp_shape(shape, world_size)
    for block in model.transformer.h:
        attn, mlp = block.attn, block.mlp
        rows = qkv_shard_rows(shape.n_head, shape.head_dim, rank, world_size)
        _shard_linear(attn.qkv_proj, rows=rows)
        attn.n_heads = shape.n_head // world_size
        attn.qkv_blocks = 1
        _shard_linear(attn.out_proj, cols=_chunk(shape.n_embd, rank, world_size))
        _shard_linear(mlp.fc_in, rows=_chunk(shape.n_inner, rank, world_size))
        _shard_linear(mlp.fc_out, cols=_chunk(shape.n_inner, rank, world_size))
        if rank != 0:
            mlp.fc_out.bias = None  # the all-reduce sums the partials: add the bias once
        if world_size > 1:
            block.branch_sum.register_forward_hook(_all_reduce_hook(group))
    _shard_lm_head(model.lm_head, rank, world_size)
    if world_size > 1:
        model.lm_head.register_forward_hook(_all_gather_hook(world_size, group))
    return model


def _chunk(size: int, rank: int, world_size: int) -> torch.Tensor:
    per_rank = size // world_size
    return torch.arange(rank * per_rank, (rank + 1) * per_rank)


def _shard_linear(linear: nn.Linear, rows=None, cols=None) -> None:
    weight = linear.weight.detach()
    if rows is not None:  # column-parallel: some outputs
        weight = weight.index_select(0, rows.to(weight.device))
        if linear.bias is not None:
            bias = linear.bias.detach().index_select(0, rows.to(weight.device))
            linear.bias = nn.Parameter(bias, requires_grad=False)
    if cols is not None:  # row-parallel: some inputs
        weight = weight.index_select(1, cols.to(weight.device))
    linear.weight = nn.Parameter(weight.contiguous(), requires_grad=False)
    linear.out_features, linear.in_features = weight.shape


def _shard_lm_head(head: nn.Linear, rank: int, world_size: int) -> None:
    vocab = head.weight.shape[0]
    padded = -(-vocab // world_size) * world_size
    if padded != vocab:  # zero rows: their logits are cut off after the gather
        extra = padded - vocab
        weight = torch.cat((head.weight.detach(), head.weight.new_zeros(extra, head.in_features)))
        head.weight = nn.Parameter(weight, requires_grad=False)
        if head.bias is not None:
            bias = torch.cat((head.bias.detach(), head.bias.new_zeros(extra)))
            head.bias = nn.Parameter(bias, requires_grad=False)
    _shard_linear(head, rows=_chunk(padded, rank, world_size))


def _all_reduce_hook(group):
    def hook(_module: nn.Module, _inputs, output: torch.Tensor) -> torch.Tensor:
        dist.all_reduce(output, op=dist.ReduceOp.SUM, group=group)
        return output

    return hook


def _all_gather_hook(world_size: int, group):
    def hook(_module: nn.Module, _inputs, output: torch.Tensor) -> torch.Tensor:
        output = output.contiguous()
        parts = [torch.empty_like(output) for _ in range(world_size)]
        dist.all_gather(parts, output, group=group)
        return torch.cat(parts, dim=-1)

    return hook
