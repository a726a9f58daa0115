"""Builds tiny, randomly initialised CodeGen models with a real tokenizer, for tests.

CodeGen splits its fused qkv projection into 4 blocks, so n_head must be divisible by 4.
"""

from __future__ import annotations

from pathlib import Path

TRAINING_TEXT = [
    "def add(a, b):\n    return a + b\n",
    "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n",
    "import os\nimport sys\n\nfor item in items:\n    print(item)\n",
    "if value is None:\n\treturn []\nelse:\n\treturn [value]\n",
]


def build_tiny_tokenizer(directory: Path, vocab_size: int = 320):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    core.train_from_iterator(TRAINING_TEXT * 20, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        clean_up_tokenization_spaces=False,
    )
    tokenizer.save_pretrained(str(directory))
    return tokenizer


def build_tiny_codegen(
    directory: Path,
    *,
    n_layer: int = 2,
    n_head: int = 4,
    n_embd: int = 64,
    rotary_dim: int = 8,
    n_positions: int = 256,
    seed: int = 0,
) -> Path:
    import torch
    from transformers import CodeGenConfig, CodeGenForCausalLM

    tokenizer = build_tiny_tokenizer(directory)
    config = CodeGenConfig(
        vocab_size=len(tokenizer),
        n_positions=n_positions,
        n_ctx=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        rotary_dim=rotary_dim,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = CodeGenForCausalLM(config).eval()
    # Random init gives near-uniform logits; widen them so greedy choices are decisive
    # and comparisons between backends are meaningful.
    with torch.no_grad():
        model.lm_head.weight.mul_(8.0)
    model.save_pretrained(str(directory))
    return directory
