"""Serving imports only what serving needs: with a built artifact, an ONNX CPU completion
through the daemon core, in a fresh interpreter, never imports torch or transformers (they
cost seconds of start-up; only building artifacts and the torch backends need them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from codegend.engine.loader import load_generator
from codegend.engine.model_spec import ModelSpec

HEAVY = ("torch", "transformers", "optimum")

COMPLETE_IN_A_FRESH_INTERPRETER = f"""
import asyncio, json, sys
from pathlib import Path
from codegend.daemon.client.connect import open_client
from codegend.daemon.client_api import CompletionRequest

async def main():
    client = await open_client(Path(sys.argv[1]), embedded=True)
    stream = client.stream(CompletionRequest(prefix="def add(a, b):\\n    ", suffix="\\n",
                                             language="python", max_new_tokens=4))
    text = "".join([chunk.text async for chunk in stream])
    await client.aclose()
    return text, stream.model.name

text, model = asyncio.run(main())
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {set(HEAVY)!r})
print(json.dumps({{"model": model, "heavy": heavy}}))
"""


def test_an_onnx_cpu_completion_imports_neither_torch_nor_transformers(
    tiny_codegen_dir: Path, tmp_path: Path
):
    spec = dict(source=str(tiny_codegen_dir), backend="onnx", device="cpu")
    load_generator(ModelSpec(**spec)).close()  # builds the artifact (this needs torch)
    config = tmp_path / "codegend.yaml"
    config.write_text("models:\n  - {name: tiny, " + ", ".join(
        f"{key}: '{value}'" for key, value in spec.items()) + "}\n")
    result = subprocess.run([sys.executable, "-c", COMPLETE_IN_A_FRESH_INTERPRETER, str(config)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer == {"model": "tiny", "heavy": []}


def test_the_command_line_help_imports_nothing_heavy():
    probe = ("import sys, contextlib, io\n"
             "from codegend.daemon.cli.main import main\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             "    main([])\n"
             f"print(sorted(m for m in sys.modules if m.split('.')[0] in {set(HEAVY)!r}))\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
