"""Tiny CodeGen models whose greedy output is known in advance, so a test can tell them apart.

Each is a randomly initialised one-layer CodeGen with the shared tiny tokenizer, whose
``lm_head`` bias strongly favours one token: greedy decoding repeats it forever. A request
answered "aaaa" came from the ``a`` model, "bbbb" from the ``b`` model. Everything else
(tokenizer, KV cache, sampling, stop rules, the ONNX or torch backend) is the real engine.
"""

from __future__ import annotations

from pathlib import Path

from tests.tiny_models import build_tiny_tokenizer


def build_parrot(directory: Path, letter: str, *, n_positions: int = 256, seed: int = 0) -> Path:
    import torch
    from transformers import CodeGenConfig, CodeGenForCausalLM

    tokenizer = build_tiny_tokenizer(directory)
    token_id = tokenizer.convert_tokens_to_ids(letter)
    assert token_id != tokenizer.unk_token_id, f"{letter!r} is not a single token"
    config = CodeGenConfig(
        vocab_size=len(tokenizer), n_positions=n_positions, n_ctx=n_positions, n_embd=32,
        n_layer=1, n_head=4, rotary_dim=4, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = CodeGenForCausalLM(config).eval()
    with torch.no_grad():
        model.lm_head.bias[token_id] += 50.0
    model.save_pretrained(str(directory))
    return directory
