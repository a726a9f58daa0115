"""Builds tiny, randomly initialised CodeGen models with a real tokenizer, for tests.

CodeGen splits its fused qkv projection into 4 blocks, so n_head must be divisible by 4.
``fim`` gives the tokenizer one family's fill-in-the-middle control tokens (``FIM_TOKENS``),
as special tokens with the first ids, the way those families' tokenizers have them.
"""

from __future__ import annotations

from pathlib import Path

TRAINING_TEXT = [
    "def add(a, b):\n    return a + b\n",
    "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n",
    "import os\nimport sys\n\nfor item in items:\n    print(item)\n",
    "if value is None:\n\treturn []\nelse:\n\treturn [value]\n",
]


# Each family's control tokens in its tokenizer's order. "starcoder" is also our own default
# models' layout: ids 0..4 = <|endoftext|>, <fim_prefix>, <fim_middle>, <fim_suffix>, <fim_pad>.
FIM_TOKENS: dict[str, tuple[str, ...]] = {
    "starcoder": ("<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>"),
    "codegen2": ("<mask_1>", "<sep>", "<eom>"),
    "qwen2.5-coder": ("<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>"),
}


def build_tiny_tokenizer(directory: Path, vocab_size: int = 320, fim: str | None = None):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>", *FIM_TOKENS.get(fim or "", ())],
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
    fim: str | None = None,
) -> Path:
    import torch
    from transformers import CodeGenConfig, CodeGenForCausalLM

    tokenizer = build_tiny_tokenizer(directory, fim=fim)
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
