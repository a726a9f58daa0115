"""FIM and KV reuse while typing: how much of each prompt the KV cache still holds.

A stretch of a real file is removed and typed back character by character. At every
keystroke the language server's request (``lsp.pipeline.prompt.build_prompt``: the text
around the cursor, bounded by characters) goes to the engine, which cuts it to the model's
budget and lays it out (``engine.prompt_fit``), as the daemon does, on one document key, in
three layouts:

- ``prefix``: no fill-in-the-middle (the model sees the text before the cursor only);
- ``psm``: ``<fim_prefix>P<fim_suffix>S<fim_middle>`` — typing changes P, which sits before
  the suffix, so everything after the cursor must be fed again;
- ``spm``: ``<fim_prefix><fim_suffix>S<fim_middle>P`` (the StarCoder variant) — typing only
  appends to P, at the end, so the suffix's KV stays.

Reported per layout: the share of prompt tokens served from the KV cache, tokens fed per
keystroke (mean, p95), and time to the first token (p50, p95). The model is a random CodeGen
with the default model's tokenizer plus the StarCoder control tokens (as the new default
models have them), so tokenization is realistic; reuse does not depend on the weights.

    python bench/bench_fim_reuse.py [--file PATH] [--start-line 40] [--chars 400]
        [--context 1024] [--max-new-tokens 8] [--threads 2]

Writes bench/results/fim_reuse.json. Run by hand.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codegend.daemon.client_api import ModelInfo  # noqa: E402
from codegend.engine.loader import load_generator  # noqa: E402
from codegend.engine.model_spec import ModelSpec  # noqa: E402
from codegend.engine.types import PromptParts, SamplingParams  # noqa: E402
from codegend.lsp.pipeline.cursor import CursorContext  # noqa: E402
from codegend.lsp.pipeline.prompt import build_prompt  # noqa: E402

FIM_TOKENS = ("<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>")
LAYOUTS = {"prefix": "none", "psm": "psm", "spm": "spm"}


def build_model(directory: Path, context: int) -> Path:
    """A 2-layer random CodeGen whose tokenizer is builtin:tiny-py's plus the FIM tokens."""
    import torch
    from tokenizers import AddedToken, Tokenizer
    from transformers import CodeGenConfig, CodeGenForCausalLM

    from codegend.engine.model_source import resolve_model_source

    source = resolve_model_source("builtin:tiny-py").path
    tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False)
                                  for t in FIM_TOKENS])
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(directory / "tokenizer.json"))
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        (directory / name).write_text((source / name).read_text())
    config = CodeGenConfig(vocab_size=tokenizer.get_vocab_size(), n_positions=context,
                           n_ctx=context, n_embd=64, n_layer=2, n_head=4, rotary_dim=8,
                           bos_token_id=0, eos_token_id=0, tie_word_embeddings=False)
    torch.manual_seed(0)
    CodeGenForCausalLM(config).eval().save_pretrained(str(directory))
    return directory


def keystrokes(text: str, start_line: int, chars: int):
    """(document, cursor) after each typed character of the stretch starting at a line."""
    start = sum(len(line) for line in text.splitlines(True)[:start_line])
    end = min(len(text), start + chars)
    before, stretch, after = text[:start], text[start:end], text[end:]
    for typed in range(1, len(stretch) + 1):
        yield before + stretch[:typed] + after, start + typed


def run_layout(model: Path, layout: str, text: str, args: argparse.Namespace) -> dict:
    spec = ModelSpec(source=str(model), backend="onnx", device="cpu", fim=LAYOUTS[layout],
                     max_new_tokens=args.max_new_tokens, threads=args.threads)
    generator = load_generator(spec)
    info = ModelInfo("bench", generator.context_tokens, args.max_new_tokens,
                     generator.fim_template.name if generator.fim_template else None)
    params = SamplingParams(max_new_tokens=args.max_new_tokens, stop_at_newline=True)
    prompt_tokens = reused = 0
    fed, ttft = [], []
    for document, cursor in keystrokes(text, args.start_line, args.chars):
        lines = document.splitlines(True)
        line = document.count("\n", 0, cursor)
        column = cursor - (document.rfind("\n", 0, cursor) + 1)
        context = CursorContext(lines, line, column, "python", "file:///bench.py")
        prompt = build_prompt(context, info)
        started = time.perf_counter()
        generation = generator.generate(PromptParts(prompt.prefix, prompt.suffix), params,
                                        sequence_key="file:///bench.py")
        first = None
        for _ in generation:
            first = first or time.perf_counter()
        # Nothing generated (a stop at once): the prompt's feed is still what was waited for.
        ttft.append(((first or time.perf_counter()) - started) * 1000)
        stats = generation.stats
        prompt_tokens += stats.prompt_tokens
        reused += stats.reused_prefix_tokens
        fed.append(stats.prompt_tokens - stats.reused_prefix_tokens)
    generator.close()
    return {
        "layout": layout, "template": info.fim_template, "keystrokes": len(fed),
        "prompt_tokens_per_keystroke": round(prompt_tokens / len(fed), 1),
        "reused_share": round(reused / prompt_tokens, 4),
        "fed_per_keystroke_mean": round(statistics.fmean(fed), 1),
        "fed_per_keystroke_p95": _percentile(fed, 95),
        "ttft_p50_ms": _percentile(ttft, 50), "ttft_p95_ms": _percentile(ttft, 95),
    }


def _percentile(values: list[float], q: int) -> float:
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parser.add_argument("--file", default=str(stdlib / "string.py"),
                        help="the file typed (default: string.py, held out from tiny-py)")
    parser.add_argument("--start-line", type=int, default=80)
    parser.add_argument("--chars", type=int, default=400)
    parser.add_argument("--context", type=int, default=1024, help="the model's positions")
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    text = Path(args.file).read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="codegend-fim-") as tmp:
        model = build_model(Path(tmp) / "model", args.context)
        rows = [run_layout(model, layout, text, args) for layout in LAYOUTS]
    print(f"\n{args.chars} characters of {args.file} typed from line {args.start_line}; "
          f"context {args.context} tokens, {args.max_new_tokens} new tokens, one line each\n")
    print(f"{'layout':8} {'template':14} {'prompt tok':>10} {'reused':>7} {'fed mean':>9} "
          f"{'fed p95':>8} {'TTFT p50':>9} {'TTFT p95':>9}")
    for row in rows:
        print(f"{row['layout']:8} {str(row['template']):14} "
              f"{row['prompt_tokens_per_keystroke']:>10} {row['reused_share']:>7.1%} "
              f"{row['fed_per_keystroke_mean']:>9} {row['fed_per_keystroke_p95']:>8} "
              f"{row['ttft_p50_ms']:>9} {row['ttft_p95_ms']:>9}")
    out = ROOT / "bench" / "results" / "fim_reuse.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
