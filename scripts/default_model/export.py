"""Turning a training checkpoint into the shipped Hugging Face directory.

Weights are stored in float16 (half the bytes of float32; the package ships them), and
config.json keeps `torch_dtype: float16` as a record of that. `from_pretrained` without a
dtype still builds a float32 model, which is what the CPU engines run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from transformers import CodeGenForCausalLM, GenerationConfig

from .training import ModelShape, load_checkpoint

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def export_checkpoint(
    checkpoint_path: Path, tokenizer_dir: Path, output_dir: Path, end_of_text_id: int
) -> dict:
    """Write config, generation config, fp16 safetensors and tokenizer into output_dir."""
    state = load_checkpoint(checkpoint_path)
    shape = ModelShape(**state["shape"])
    model = CodeGenForCausalLM(shape.config(end_of_text_id))
    model.load_state_dict(state["model"])
    model = model.to(torch.float16).eval()
    output_dir.mkdir(parents=True, exist_ok=True)
    for stale in output_dir.glob("*.safetensors"):
        stale.unlink()
    model.save_pretrained(str(output_dir), safe_serialization=True)
    GenerationConfig(
        bos_token_id=end_of_text_id,
        eos_token_id=end_of_text_id,
        pad_token_id=end_of_text_id,
        do_sample=False,
        max_new_tokens=64,
    ).save_pretrained(str(output_dir))
    for name in TOKENIZER_FILES:
        shutil.copyfile(tokenizer_dir / name, output_dir / name)
    return {key: value for key, value in state.items() if key not in ("model", "optimizer")}
