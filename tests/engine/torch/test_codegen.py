"""The compact torch CodeGen against transformers' CodeGenForCausalLM, in one process."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from codegend.engine.errors import ModelSourceError
from codegend.engine.torch.codegen import load_codegen
from codegend.engine.torch.int8_linear import Int8WeightOnlyLinear, quantize_block_linears
from codegend.engine.torch.tp import apply_tp


def save_hf_codegen(
    directory: Path,
    *,
    n_head: int = 8,
    n_embd: int = 64,
    n_layer: int = 2,
    rotary_dim: int = 8,
    vocab_size: int = 201,
    n_positions: int = 64,
    seed: int = 0,
    safetensors: bool = True,
):
    """A random CodeGen saved the way transformers saves checkpoints; returns (dir, model)."""
    from transformers import CodeGenConfig, CodeGenForCausalLM

    config = CodeGenConfig(
        vocab_size=vocab_size, n_positions=n_positions, n_ctx=n_positions, n_embd=n_embd,
        n_layer=n_layer, n_head=n_head, rotary_dim=rotary_dim, tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = CodeGenForCausalLM(config).eval()
    with torch.no_grad():  # random init is nearly uniform; spread the logits to matter
        model.lm_head.weight.mul_(4.0)
        for block in model.transformer.h:  # non-zero biases, so adding them once is tested
            block.mlp.fc_out.bias.normal_(0, 0.1)
            block.mlp.fc_in.bias.normal_(0, 0.1)
        model.lm_head.bias.normal_(0, 0.1)
    model.save_pretrained(str(directory), safe_serialization=safetensors)
    return directory, model


def hf_reference(model, prompt: list[int], continuation: list[int]):
    """Logits of every prompt position, then of each continuation token fed one at a time."""
    with torch.no_grad():
        out = model(torch.tensor([prompt]), use_cache=True)
        steps, cache = [], out.past_key_values
        for token in continuation:
            step = model(torch.tensor([[token]]), past_key_values=cache, use_cache=True)
            steps.append(step.logits[0, -1])
            cache = step.past_key_values
    return out.logits[0], torch.stack(steps) if steps else None


PROMPT = [5, 17, 42, 3, 99, 150, 7, 64, 12]
CONTINUATION = [8, 200, 31, 31, 0]


@pytest.mark.parametrize("safetensors", [True, False])
def test_prefill_and_decode_match_transformers(tmp_path, safetensors):
    directory, hf = save_hf_codegen(tmp_path, safetensors=safetensors)
    want_prefill, want_steps = hf_reference(hf, PROMPT, CONTINUATION)
    model = load_codegen(directory)
    model.setup_caches(64)
    with torch.no_grad():
        torch.testing.assert_close(model(torch.tensor([PROMPT]), 0, all_positions=True),
                                   want_prefill, atol=1e-5, rtol=0)
        for i, token in enumerate(CONTINUATION):
            got = model(torch.tensor([[token]]), len(PROMPT) + i)
            torch.testing.assert_close(got, want_steps[i], atol=1e-5, rtol=0)


def test_refeeding_after_a_shorter_start_overwrites_the_cache(tmp_path):
    # Prefix reuse: keep 4 cached positions, feed a different tail from position 4.
    directory, hf = save_hf_codegen(tmp_path)
    model = apply_tp(load_codegen(directory), 0, 1)  # world size 1 normalizes the qkv layout
    model.setup_caches(64)
    other = PROMPT[:4] + [77, 78, 79]
    want, _ = hf_reference(hf, other, [])
    with torch.no_grad():
        model(torch.tensor([PROMPT]), 0)
        got = model(torch.tensor([other[4:]]), 4, all_positions=True)
    torch.testing.assert_close(got, want[4:], atol=1e-5, rtol=0)


def test_int8_weights_stay_close_to_float32(tmp_path):
    directory, _ = save_hf_codegen(tmp_path, n_embd=128, n_head=8)
    exact = load_codegen(directory)
    quantized = quantize_block_linears(load_codegen(directory))
    assert isinstance(quantized.transformer.h[0].attn.qkv_proj, Int8WeightOnlyLinear)
    assert quantized.transformer.h[0].mlp.fc_in.weight.dtype == torch.int8
    for model in (exact, quantized):
        model.setup_caches(64)
    with torch.no_grad():
        want = exact(torch.tensor([PROMPT]), 0, all_positions=True)
        got = quantized(torch.tensor([PROMPT]), 0, all_positions=True)
    spread = (want.max() - want.min()).item()
    assert (got - want).abs().max().item() < 0.02 * spread
    assert (got - want).abs().max().item() > 0  # it really is quantized
    assert (got.argmax(-1) == want.argmax(-1)).float().mean().item() >= 0.75


def test_missing_weights_name_the_tensor(tmp_path):
    from safetensors.torch import load_file, save_file

    directory, _ = save_hf_codegen(tmp_path)
    state = load_file(str(directory / "model.safetensors"))
    del state["transformer.h.1.mlp.fc_in.weight"]
    save_file(state, str(directory / "model.safetensors"))
    with pytest.raises(ModelSourceError, match="transformer.h.1.mlp.fc_in.weight"):
        load_codegen(directory)


def test_truncated_weights_are_a_clear_error(tmp_path):
    directory, _ = save_hf_codegen(tmp_path)
    weights = directory / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:5000])
    with pytest.raises(ModelSourceError, match="model.safetensors"):
        load_codegen(directory)
