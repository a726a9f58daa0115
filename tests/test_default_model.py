"""The shipped built-in models, `builtin:tiny-py` and `builtin:tiny-web`: they load offline,
complete their languages, infill with the StarCoder FIM tokens, stay small, their cards
report what was measured, and their tokenizers give back exactly the source they were given."""

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

MODELS_DIR = Path(__file__).resolve().parent.parent / "engine" / "models"
MODELS = ("tiny-py", "tiny-web")
FIM_TOKENS = ("<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>")
MAX_WEIGHT_BYTES = 64 * 1024 * 1024  # the models issue's bound per shipped model
LANGUAGE_OF = {"tiny-py": "python", "tiny-web": "web"}  # corpus family, as the script names it
sys.path.insert(0, str(MODELS_DIR.parent.parent / "scripts"))
from default_model.evaluate import SAMPLE_PROMPTS  # noqa: E402

# Runs in a fresh interpreter so the offline switches are read before huggingface_hub is
# imported, and with sockets unable to connect, so any network use fails loudly. Prompts
# come as JSON [prefix, suffix] pairs, laid out as the engine does: a suffix asks for an
# infill (StarCoder SPM layout), a prefix alone starts its document (after <|endoftext|>).
OFFLINE_COMPLETION = r"""
import json, socket, sys

def refuse(*args, **kwargs):
    raise OSError("network use during an offline load")

socket.socket.connect = refuse
socket.create_connection = refuse

import torch
from transformers import AutoTokenizer, CodeGenForCausalLM
from codegend.engine.model_source import resolve_model_source

resolved = resolve_model_source(sys.argv[1])
tokenizer = AutoTokenizer.from_pretrained(resolved.path)
model = CodeGenForCausalLM.from_pretrained(resolved.path).eval()
completions = []
for prefix, suffix in json.loads(sys.argv[2]):
    prompt = f"<fim_prefix><fim_suffix>{suffix}<fim_middle>{prefix}" if suffix \
        else f"<|endoftext|>{prefix}"
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    with torch.inference_mode():
        out = model.generate(ids, max_new_tokens=16, do_sample=False,
                             pad_token_id=tokenizer.eos_token_id)
    completions.append(tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True))
print(json.dumps({"path": str(resolved.path), "dtype": str(model.dtype),
                  "completions": completions}))
"""


def _complete_offline(model: str, prompts: list[tuple[str, str]]) -> list[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", OFFLINE_COMPLETION, f"builtin:{model}", json.dumps(prompts)],
        capture_output=True, text=True, timeout=240, env=env, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(report["path"]).resolve() == (MODELS_DIR / model).resolve()
    assert report["dtype"] == "torch.float32"
    return report["completions"]


def test_tiny_py_loads_offline_and_completes_and_infills_python() -> None:
    signature, module, body, infill = _complete_offline("tiny-py", [
        ("def __init__(self", ""),
        ("import", ""),  # no space: the BPE writes the space with the module name (" os")
        ("class Point:\n    def __init__(self, x, y):\n", ""),
        ("def total(items):\n    result = 0\n    for item in items:\n        ",
         "\n    return result\n"),
    ])
    assert re.fullmatch(r"[^\n]*\)( -> [^\n]+)?:\s*", signature.split("\n")[0]), signature
    assert re.fullmatch(r" [A-Za-z_][A-Za-z0-9_.]*( as \w+)?", module.split("\n")[0]), module
    assert body.startswith("        ") and body.strip(), body
    assert "item" in infill.split("\n")[0] and "<fim" not in infill, infill


def test_tiny_web_loads_offline_and_completes_typescript() -> None:
    block, statement = _complete_offline("tiny-web", [
        ("export function add(a: number, b: number): number {\n", ""),
        ("const values = [1, 2, 3];\nconst doubled = values.map(", ""),
    ])
    assert block.startswith(("  ", "\t")) and block.strip(), block
    assert statement.split("\n")[0].strip(), statement


@pytest.mark.parametrize("model", MODELS)
def test_weights_are_small_float16_safetensors(model: str) -> None:
    from safetensors import safe_open

    weights = MODELS_DIR / model / "model.safetensors"
    assert weights.stat().st_size <= MAX_WEIGHT_BYTES
    with safe_open(str(weights), framework="pt") as handle:
        dtypes = {str(handle.get_slice(name).get_dtype()) for name in handle.keys()}
    assert dtypes == {"F16"}
    config = json.loads((MODELS_DIR / model / "config.json").read_text())
    assert config["model_type"] == "codegen" and config["n_head"] % 4 == 0


@pytest.mark.parametrize("model", MODELS)
def test_the_engine_gives_each_model_the_starcoder_fim_template(model: str, tokenizers) -> None:
    from codegend.engine.fim import fim_template_for

    tokenizer = tokenizers[model]
    assert [tokenizer.convert_tokens_to_ids(t) for t in FIM_TOKENS] == [1, 2, 3, 4]
    template = fim_template_for(tokenizer.get_vocab())
    assert template is not None and template.name.startswith("starcoder"), template


def _score_row(card: str, task: str) -> list[str]:
    row = re.search(rf"^\| {re.escape(task)} \| \d+ \| (.+) \|$", card, re.M)
    assert row, f"the card has no row for {task!r}"
    return [cell.strip() for cell in row.group(1).split("|")]


def _header(card: str) -> list[str]:
    header = re.search(r"^\| task \| positions \| (.+) \|$", card, re.M)
    assert header, "the card has no evaluation table"
    return [cell.strip() for cell in header.group(1).split("|")]


@pytest.mark.parametrize("model", MODELS)
def test_card_reports_a_model_better_than_repeating_the_previous_line(model: str) -> None:
    card = (MODELS_DIR / model / "MODEL_CARD.md").read_text(encoding="utf-8")
    contestants = _header(card)
    cells = dict(zip(contestants, _score_row(card, "next line, at a line start"), strict=True))
    similarity = {name: float(cell.strip("*").split(" / ")[1])
                  for name, cell in cells.items() if cell != "—"}
    assert similarity[model] > similarity["repeat previous line"]
    assert re.search(r"Perplexity: \*\*[\d.]+\*\*", card)
    assert card.count("Greedy completion") == len(SAMPLE_PROMPTS[LANGUAGE_OF[model]])
    assert "![training loss](loss.png)" in card and (MODELS_DIR / model / "loss.png").is_file()


ROUND_TRIP_CASES = [
    "",
    "x = 1\n",
    "def f(a,\tb):\n\treturn a  +  b\r\n",
    "class A:\r\n    def m(self):\r\n        pass\r\n",
    " " * 100 + "deep = True\n" + "\t" * 20 + "tabs = True\n",
    "s = 'héllo wörld — ünïcödé'\nπ = 3.14159\n名前 = '値'\n",
    "const emoji = '🐍🎉👩‍💻'; // zero-width joiner inside\n",
    "trailing   \n\n\n   \n\t \t\n",
    "<|endoftext|> and <fim_prefix> are text here\n",
    "\x00\x01\x7f nonprintables \u200b\ufeff\n",
    "mixed \r lone carriage returns \r\r\n and \v\f form feeds\n",
]


@pytest.fixture(scope="module")
def tokenizers():
    from transformers import AutoTokenizer

    return {model: AutoTokenizer.from_pretrained(MODELS_DIR / model) for model in MODELS}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("text", ROUND_TRIP_CASES)
def test_tokenizer_round_trips_fixed_cases(tokenizers, model: str, text: str) -> None:
    tokenizer = tokenizers[model]
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text


@pytest.mark.parametrize("model", MODELS)
def test_indentation_is_one_token(tokenizers, model: str) -> None:
    tokenizer = tokenizers[model]
    for width in (2, 4, 8, 12, 16):
        ids = tokenizer(" " * width + "return")["input_ids"]
        assert tokenizer.convert_ids_to_tokens(ids[0]) == " " * width
    assert len(tokenizer("\t\t\tpass")["input_ids"]) == 2


def test_tokenizer_round_trips_the_stdlib(tokenizers) -> None:
    from default_model.sources import stdlib_package

    for source in stdlib_package().files[::150]:
        for tokenizer in tokenizers.values():
            ids = tokenizer(source.text)["input_ids"]
            assert tokenizer.decode(ids) == source.text, source.relative


_INDENT = st.text(alphabet=" \t", max_size=40)
_CODE = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
_LINE = st.tuples(_INDENT, _CODE, st.sampled_from(["\n", "\r\n", "\r", ""]))


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(_LINE, max_size=12))
def test_tokenizers_round_trip_arbitrary_source(tokenizers, lines) -> None:
    text = "".join(indent + code + end for indent, code, end in lines)
    for tokenizer in tokenizers.values():
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == text


@settings(max_examples=100, deadline=None)
@given(text=st.text(st.characters(exclude_categories=("Cs",))))
def test_tokenizers_round_trip_arbitrary_text(tokenizers, text: str) -> None:
    for tokenizer in tokenizers.values():
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == text
