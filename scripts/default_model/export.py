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
HELDOUT_LIST = "heldout_files.txt"  # read by codegend.engine.quant.heldout
# Held-out packages that a plain `pip install codegend` brings along (uvicorn needs click and
# h11, the daemon's client is httpx), so `codegend eval` and static-INT8 calibration find
# code the model never saw on any user's machine.
INSTALLED_HELD_OUT = ("click", "h11", "httpx")
HELDOUT_LIST_FILES = 12
SAMPLES_DIR = "samples"


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


def plot_loss(run_dir: Path, output: Path, title: str) -> None:
    """The training loss curve (and a cooldown branch's, when there is one) as a PNG."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for name, label in (("metrics.jsonl", "training"), ("cooldown_metrics.jsonl", "cooldown")):
        path = run_dir / name
        if not path.exists():
            continue
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        records = sorted({r["step"]: r for r in records}.values(), key=lambda r: r["step"])
        axis.plot([r["step"] for r in records], [r["loss"] for r in records], label=label)
    axis.set_xlabel("step")
    axis.set_ylabel("training loss (nats/token)")
    axis.set_yscale("log")
    axis.set_title(f"{title}: training loss")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(output, dpi=110)
    plt.close(figure)


def write_heldout_list(output_dir: Path, held_out: list, own_samples: list[Path]) -> list[str]:
    """heldout_files.txt beside the model: the largest held-out files of packages every
    install has (paths relative to site-packages) and, for languages whose held-out packages
    are not installed with codegend, samples of this project's own code copied into the model
    dir. Returns the listed names."""
    names: list[str] = []
    installed = sorted((f for f in held_out if f.package.lower() in INSTALLED_HELD_OUT),
                       key=lambda f: (-len(f.text), f.relative))
    names += [f.relative for f in installed[:HELDOUT_LIST_FILES]]
    samples = output_dir / SAMPLES_DIR
    if samples.exists():
        shutil.rmtree(samples)
    if own_samples:
        samples.mkdir(parents=True)
        for path in own_samples:
            shutil.copyfile(path, samples / path.name)
            names.append(f"{SAMPLES_DIR}/{path.name}")
    (output_dir / HELDOUT_LIST).write_text("\n".join(names) + "\n", encoding="utf-8")
    return names
