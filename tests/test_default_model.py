"""The shipped default model, `builtin:tiny-py`: it loads offline, completes Python, and its
tokenizer gives back exactly the source it was given."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

MODEL_DIR = Path(__file__).resolve().parent.parent / "engine" / "models" / "tiny-py"

# Runs in a fresh interpreter so the offline switches are read before huggingface_hub is
# imported, and with sockets unable to connect, so any network use fails loudly.
OFFLINE_COMPLETION = r"""
import json, socket, sys

def refuse(*args, **kwargs):
    raise OSError("network use during an offline load")

socket.socket.connect = refuse
socket.create_connection = refuse

import torch
from transformers import AutoTokenizer, CodeGenForCausalLM
from codegend.engine.model_source import resolve_model_source

resolved = resolve_model_source("builtin:tiny-py")
tokenizer = AutoTokenizer.from_pretrained(resolved.path)
model = CodeGenForCausalLM.from_pretrained(resolved.path).eval()
completions = {}
for prompt in sys.argv[1:]:
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    with torch.inference_mode():
        out = model.generate(ids, max_new_tokens=16, do_sample=False,
                             pad_token_id=tokenizer.eos_token_id)
    completions[prompt] = tokenizer.decode(out[0, ids.shape[1]:])
print(json.dumps({"path": str(resolved.path), "dtype": str(model.dtype),
                  "completions": completions}))
"""


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(MODEL_DIR)


def test_builtin_model_loads_offline_and_completes_python() -> None:
    # "import" without its space: the BPE writes the space with the module name (" os").
    prompts = ["def __init__(self", "import", "class Point:\n    def __init__(self, x, y):\n"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", OFFLINE_COMPLETION, *prompts],
                            capture_output=True, text=True, timeout=240, env=env, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(report["path"]).resolve() == MODEL_DIR.resolve()
    assert report["dtype"] == "torch.float32"
    completions = report["completions"]
    signature = completions["def __init__(self"].split("\n")[0]
    assert re.fullmatch(r"[^:]*\)( -> None)?:\s*", signature), signature
    module = completions["import"].split("\n")[0]
    assert re.fullmatch(r" [A-Za-z_][A-Za-z0-9_.]*( as \w+)?", module), module
    body = completions["class Point:\n    def __init__(self, x, y):\n"]
    assert body.startswith("        ") and body.strip(), body


def test_weights_are_small_float16_safetensors() -> None:
    from safetensors import safe_open

    weights = MODEL_DIR / "model.safetensors"
    assert weights.stat().st_size <= 25 * 1024 * 1024
    with safe_open(str(weights), framework="pt") as handle:
        dtypes = {str(handle.get_slice(name).get_dtype()) for name in handle.keys()}
    assert dtypes == {"F16"}
    config = json.loads((MODEL_DIR / "config.json").read_text())
    assert config["model_type"] == "codegen" and config["n_head"] % 4 == 0


def test_card_reports_a_model_better_than_the_baseline() -> None:
    card = (MODEL_DIR / "MODEL_CARD.md").read_text(encoding="utf-8")
    model = re.search(r"^\| tiny-py \| \*\*([\d.]+)%\*\* \| ([\d.]+) \|$", card, re.M)
    baseline = re.search(r"^\| baseline: [^|]+\| ([\d.]+)% \| ([\d.]+) \|$", card, re.M)
    assert model and baseline, "the card has no next-line table"
    assert float(model.group(1)) > float(baseline.group(1))
    assert re.search(r"Perplexity: \*\*[\d.]+\*\*", card)
    assert card.count("Greedy completion:") == 10


ROUND_TRIP_CASES = [
    "",
    "x = 1\n",
    "def f(a,\tb):\n\treturn a  +  b\r\n",
    "class A:\r\n    def m(self):\r\n        pass\r\n",
    " " * 100 + "deep = True\n" + "\t" * 20 + "tabs = True\n",
    "s = 'héllo wörld — ünïcödé'\nπ = 3.14159\n名前 = '値'\n",
    "emoji = '🐍🎉👩‍💻'  # zero-width joiner inside\n",
    "trailing   \n\n\n   \n\t \t\n",
    "<|endoftext|> is text here\n",
    "\x00\x01\x7f nonprintables \u200b\ufeff\n",
    "mixed \r lone carriage returns \r\r\n and \v\f form feeds\n",
]


@pytest.mark.parametrize("text", ROUND_TRIP_CASES)
def test_tokenizer_round_trips_fixed_cases(tokenizer, text: str) -> None:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text


def test_indentation_is_one_token(tokenizer) -> None:
    for width in (4, 8, 12, 16):
        ids = tokenizer(" " * width + "return")["input_ids"]
        assert tokenizer.convert_ids_to_tokens(ids[0]) == " " * width
    assert len(tokenizer("\t\t\tpass")["input_ids"]) == 2


def test_tokenizer_round_trips_the_stdlib_held_out_files(tokenizer) -> None:
    sys.path.insert(0, str(MODEL_DIR.parent.parent.parent / "scripts"))
    from default_model.sources import stdlib_package

    for source in stdlib_package().files[::150]:
        ids = tokenizer(source.text)["input_ids"]
        assert tokenizer.decode(ids) == source.text, source.relative


_INDENT = st.text(alphabet=" \t", max_size=40)
_CODE = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
_LINE = st.tuples(_INDENT, _CODE, st.sampled_from(["\n", "\r\n", "\r", ""]))


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(_LINE, max_size=12))
def test_tokenizer_round_trips_arbitrary_source(tokenizer, lines) -> None:
    text = "".join(indent + code + end for indent, code, end in lines)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text


@settings(max_examples=200, deadline=None)
@given(text=st.text(st.characters(exclude_categories=("Cs",))))
def test_tokenizer_round_trips_arbitrary_text(tokenizer, text: str) -> None:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text
