"""The qkv shard map and the per-rank shards, checked in one process (no collectives run).

Calling a sharded block's ``attn`` or ``mlp`` directly bypasses the all-reduce hook, so the
sum of every rank's partial output must equal the unsharded layer's output.
"""

from __future__ import annotations

import copy

import pytest
import torch

from codegend.engine.errors import ModelSourceError
from codegend.engine.torch.codegen import QKV_BLOCKS, CodeGenShape, load_codegen
from codegend.engine.torch.tp import apply_tp, qkv_shard_rows
from tests.engine.torch.test_codegen import save_hf_codegen


def merge_qkv_shards(shards: list[torch.Tensor], n_head: int, head_dim: int) -> torch.Tensor:
    """The inverse of sharding: put every rank's rows back where the checkpoint had them."""
    world_size = len(shards)
    merged = shards[0].new_empty((3 * n_head * head_dim, *shards[0].shape[1:]))
    for rank, shard in enumerate(shards):
        merged[qkv_shard_rows(n_head, head_dim, rank, world_size)] = shard
    return merged


@pytest.mark.parametrize(("n_head", "world_size"), [
    (4, 1), (4, 2), (4, 4), (8, 2), (8, 8), (16, 4), (16, 8), (12, 3), (12, 6),
])
def test_shards_reassemble_the_original_weight_in_order(n_head, world_size):
    head_dim = 3
    weight = torch.randn(3 * n_head * head_dim, 5)
    shards = [weight[qkv_shard_rows(n_head, head_dim, r, world_size)] for r in range(world_size)]
    assert all(s.shape == (3 * n_head * head_dim // world_size, 5) for s in shards)
    assert torch.equal(merge_qkv_shards(shards, n_head, head_dim), weight)
    all_rows = torch.cat([qkv_shard_rows(n_head, head_dim, r, world_size)
                          for r in range(world_size)])
    assert torch.equal(all_rows.sort().values, torch.arange(3 * n_head * head_dim))


def test_with_four_ranks_each_rank_holds_exactly_one_checkpoint_block_in_order():
    # The checkpoint's layout already is 4 blocks of [query | value | key]: for 4 ranks the
    # map must be the identity, block by block, so plain concatenation restores the weight.
    n_head, head_dim = 8, 2
    block_rows = 3 * n_head * head_dim // QKV_BLOCKS
    for rank in range(4):
        rows = qkv_shard_rows(n_head, head_dim, rank, 4)
        assert torch.equal(rows, torch.arange(rank * block_rows, (rank + 1) * block_rows))


def test_one_rank_reorders_the_four_blocks_into_one():
    n_head, head_dim = 4, 1  # one head per block: rows are [q0 v0 k0 | q1 v1 k1 | ...]
    assert qkv_shard_rows(n_head, head_dim, 0, 1).tolist() == [
        0, 3, 6, 9,  # queries of heads 0..3
        1, 4, 7, 10,  # values
        2, 5, 8, 11,  # keys
    ]


@pytest.fixture(scope="module")
def hf_and_compact(tmp_path_factory):
    directory, hf = save_hf_codegen(tmp_path_factory.mktemp("shard"), n_head=16, n_embd=128,
                                    rotary_dim=6, vocab_size=203)
    return hf, load_codegen(directory)


@pytest.mark.parametrize("world_size", [1, 2, 4, 8])
def test_partial_sums_of_all_ranks_equal_the_hugging_face_layers(hf_and_compact, world_size):
    hf, compact = hf_and_compact
    torch.manual_seed(world_size)
    x = torch.randn(1, 6, compact.shape.n_embd)
    positions = torch.arange(6)[None]
    hf_block = hf.transformer.h[0]
    with torch.no_grad():
        causal = torch.full((6, 6), torch.finfo(torch.float32).min).triu(1)[None, None]
        want_attn = hf_block.attn(x, attention_mask=causal, position_ids=positions)[0]
        want_mlp = hf_block.mlp(x)
        attn_sum = torch.zeros_like(want_attn)
        mlp_sum = torch.zeros_like(want_mlp)
        for rank in range(world_size):
            shard = apply_tp(copy.deepcopy(compact), rank, world_size)
            shard.setup_caches(16)
            block = shard.transformer.h[0]
            assert block.attn.n_heads == 16 // world_size
            assert (block.mlp.fc_out.bias is not None) == (rank == 0)
            attn_sum += block.attn(x, 0, shard.rotary_sin[:6], shard.rotary_cos[:6])
            mlp_sum += block.mlp(x)
    torch.testing.assert_close(attn_sum, want_attn, atol=1e-5, rtol=0)
    torch.testing.assert_close(mlp_sum, want_mlp, atol=1e-5, rtol=0)


def test_vocab_parallel_head_pads_and_shards(hf_and_compact):
    _, compact = hf_and_compact
    heads = [apply_tp(copy.deepcopy(compact), r, 4).lm_head for r in range(4)]
    assert [h.weight.shape[0] for h in heads] == [51, 51, 51, 51]  # 203 padded to 204
    merged = torch.cat([h.weight for h in heads])
    assert torch.equal(merged[:203], compact.lm_head.weight)
    assert torch.count_nonzero(merged[203:]) == 0


def test_a_world_size_that_does_not_divide_the_heads_is_a_clear_error(hf_and_compact):
    _, compact = hf_and_compact
    with pytest.raises(ModelSourceError, match="n_head=16 is not divisible by world_size=3"):
        apply_tp(copy.deepcopy(compact), 0, 3)


def test_shape_rejects_head_counts_the_qkv_layout_cannot_hold():
    config = {"vocab_size": 10, "n_embd": 60, "n_layer": 1, "n_head": 6}
    with pytest.raises(ModelSourceError, match="multiple of 4"):
        CodeGenShape.from_config(config)
