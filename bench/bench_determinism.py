"""Same document state, same suggestion? Greedy answers against the order of requests.

N documents (prefixes of held-out files, cut at line starts drawn with a seed) are completed
greedily three ways on one recipe: each on a freshly loaded model (nothing asked before), all
in file order through one model, and all in a shuffled order through one model (each with
its document key, so the KV cache is reused within and across documents as the daemon does).
Reported per recipe: answers that differ from the fresh ones in either order.

    python bench/bench_determinism.py [--source builtin:tiny-py] [--documents 120]
        [--recipes dynamic-int8,static-int8] [--max-new-tokens 16] [--seed 3]

Writes bench/results/determinism.json. Run by hand.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codegend.engine.loader import load_generator  # noqa: E402
from codegend.engine.model_source import resolve_model_source  # noqa: E402
from codegend.engine.model_spec import ModelSpec  # noqa: E402
from codegend.engine.quant.heldout import default_heldout_files  # noqa: E402
from codegend.engine.types import PromptParts, SamplingParams  # noqa: E402


def documents(source: str, count: int, seed: int) -> list[str]:
    files = default_heldout_files(resolve_model_source(source).path)
    rng = random.Random(seed)
    prefixes = []
    while len(prefixes) < count:
        lines = rng.choice(files).read_text(encoding="utf-8").splitlines(True)
        cut = rng.randrange(10, len(lines))
        prefixes.append("".join(lines[:cut]) + lines[cut][: len(lines[cut]) // 2])
    return prefixes


def answers(spec: ModelSpec, docs: list[str], order: list[int], params: SamplingParams,
            generator=None) -> dict[int, str]:
    own = generator is None
    generator = generator or load_generator(spec)
    try:
        return {i: generator.generate(PromptParts(docs[i]), params,
                                      sequence_key=f"file:///doc{i}.py").text() for i in order}
    finally:
        if own:
            generator.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="builtin:tiny-py")
    parser.add_argument("--documents", type=int, default=120)
    parser.add_argument("--recipes", default="dynamic-int8,static-int8")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    docs = documents(args.source, args.documents, args.seed)
    params = SamplingParams(max_new_tokens=args.max_new_tokens)
    shuffled = list(range(len(docs)))
    random.Random(args.seed).shuffle(shuffled)
    rows = []
    for recipe in args.recipes.split(","):
        spec = ModelSpec(source=args.source, backend="onnx", device="cpu", quantization=recipe,
                         threads=args.threads)
        fresh = {}
        generator = load_generator(spec)  # builds (or finds) the artifact first
        generator.close()
        for i in range(len(docs)):
            fresh.update(answers(spec, docs, [i], params))
        in_order = answers(spec, docs, list(range(len(docs))), params)
        mixed = answers(spec, docs, shuffled, params)
        changed = sorted(i for i in fresh if in_order[i] != fresh[i] or mixed[i] != fresh[i])
        rows.append({"recipe": recipe, "documents": len(docs), "changed": len(changed),
                     "changed_in_order": sum(in_order[i] != fresh[i] for i in fresh),
                     "changed_shuffled": sum(mixed[i] != fresh[i] for i in fresh),
                     "examples": [{"fresh": fresh[i], "in_order": in_order[i],
                                   "shuffled": mixed[i]} for i in changed[:3]]})
        print(f"{recipe:16} {len(changed):>3} of {len(docs)} greedy answers changed with the "
              f"order of earlier requests (in file order {rows[-1]['changed_in_order']}, "
              f"shuffled {rows[-1]['changed_shuffled']})", flush=True)
    out = ROOT / "bench" / "results" / "determinism.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
