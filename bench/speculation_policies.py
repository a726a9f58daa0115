"""Drafting policies replayed offline: tokens per pass and model cost against plain decoding.

Records every generation of the speculation replay (``bench_speculative.py``'s requests on
the default model): its prompt, the draft sources the generator handed to prompt lookup,
and the tokens the model chose (greedy, so they do not depend on the drafts). Then each
policy drafts against those records: a pass yields its accepted draft tokens plus one and
costs what a pass of its width costs, from ``--curve`` (a pass over w tokens, as a multiple
of a one-token pass; the default is what the replay measured per pass at 2 threads). The
plain arm costs one per token. Only the model's cost is counted: the work every token costs
either way (detokenizing, stop rules) is left out, so real ratios are a little closer to 1.

"oracle" drafts, at each pass of the default policy, exactly the tokens of its draft that the
model then accepted: no rejected row is ever paid for.

    python bench/speculation_policies.py [--requests 240] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import codegend.engine.generate as generate_module  # noqa: E402
from bench.bench_speculative import default_model_replay, held_out_files, replay_requests  # noqa: E402
from codegend.engine.prompt_lookup import LookupConfig, PromptLookup  # noqa: E402

# Per pass of w = 1, 2, ... tokens, in one-token passes: bench_speculative's replay, 2 threads.
MEASURED_CURVE = (1.0, 1.28, 1.41, 1.48, 1.50, 1.55, 1.66, 1.70, 1.74)


@dataclass
class Record:
    """One generation: what prompt lookup was given, and the tokens that followed."""

    sources: list[list[int]]
    ends: object  # the newline flags (line mode) or None
    lead: list[int]
    ids: list[int]  # the prompt, then every chosen token
    prompt_length: int = 0


class RecordingLookup(PromptLookup):
    """The generator's prompt lookup, unchanged, keeping what it was given and saw."""

    records: list[Record] = []

    def __init__(self, config, sources=(), ends=None, lead=()) -> None:
        super().__init__(config, sources, ends, lead)
        self.record = Record([list(s) for s in sources], ends, list(lead), [])
        RecordingLookup.records.append(self.record)

    def extend(self, token_ids) -> None:
        if not self.record.ids:
            self.record.prompt_length = len(token_ids)
        self.record.ids.extend(int(t) for t in token_ids)
        super().extend(token_ids)


def record_replay(args) -> list[tuple[Record, int]]:
    """Runs the replay with recording lookups; pairs each generation with the number of
    tokens the server used (its stop rule ends a completion before the generator does)."""
    generate_module.PromptLookup = RecordingLookup  # the generator builds one per request
    replay_args = argparse.Namespace(model=args.model, threads=args.threads, quantization=None,
                                     draft=LookupConfig().max_draft_tokens, min_ngram=1,
                                     initial_draft=LookupConfig().initial_draft_tokens)
    requests = replay_requests(held_out_files(), args.requests, 6, seed=args.seed)
    _, speculative = default_model_replay(replay_args, requests)
    # A request the completion cache answered ran no pass (and made no lookup).
    used = [count for count, passes in zip(speculative.token_counts, speculative.patterns,
                                           strict=True) if passes]
    records = RecordingLookup.records
    assert len(records) == len(used), "one recorded generation per request the model ran"
    return [(record, count) for record, count in zip(records, used, strict=True) if count]


def pass_cost(curve: tuple[float, ...], width: int) -> float:
    if width <= len(curve):
        return curve[width - 1]
    return curve[-1] + (curve[-1] - curve[-2]) * (width - len(curve))


def replay_policy(records, make, curve, oracle: bool = False) -> dict:
    tokens = passes = decode_tokens = 0
    decode_cost = 0.0
    for record, count in records:
        prompt = record.ids[: record.prompt_length]
        chosen = record.ids[record.prompt_length : record.prompt_length + count]
        drafter = make(record)
        drafter.extend(prompt)
        position, first = 0, True
        while position < len(chosen):
            draft = drafter.draft(64 - position)
            accepted = 0
            for drafted, actual in zip(draft, chosen[position:], strict=False):
                if drafted != actual:
                    break
                accepted += 1
            accepted = min(accepted, len(chosen) - position - 1)
            width = 1 + (accepted if oracle else len(draft))
            yielded = chosen[position : position + accepted + 1]
            passes += 1
            tokens += len(yielded)
            if not first:  # like the replay, decode time counts the passes after the first
                decode_cost += pass_cost(curve, width)
                decode_tokens += len(yielded)
            first = False
            position += len(yielded)
            drafter.extend(yielded)
    return {"tokens_per_pass": tokens / passes, "model_cost": decode_cost / decode_tokens}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin:tiny-py")
    parser.add_argument("--requests", type=int, default=240)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--curve", default=",".join(map(str, MEASURED_CURVE)),
                        help="cost of a pass of 1, 2, ... tokens, in one-token passes")
    args = parser.parse_args()
    curve = tuple(float(c) for c in args.curve.split(","))
    records = record_replay(args)
    default = LookupConfig()

    def lookup(config: LookupConfig = default, lead: bool = True):
        return lambda r: PromptLookup(config, r.sources, r.ends, r.lead if lead else ())

    policies = {
        "default": lookup(),
        "no one-token matches (min_ngram 2)": lookup(replace(default, min_ngram=2)),
        "min_ngram 3": lookup(replace(default, min_ngram=3)),
        "one token after a one-token match": lookup(replace(default,
                                                            short_match_draft_tokens=1)),
        "no previous answer as a source": lookup(lead=False),
        "min_ngram 2, no previous answer": lookup(replace(default, min_ngram=2), lead=False),
        "drafts start at 8": lookup(replace(default, initial_draft_tokens=8)),
        "up to 12 tokens": lookup(replace(default, max_draft_tokens=12)),
    }
    print(f"{len(records)} generations; pass cost by width: {curve}")
    print(f"{'policy':40} {'tokens/pass':>12} {'model cost vs plain':>20}")
    for name, make in policies.items():
        result = replay_policy(records, make, curve)
        print(f"{name:40} {result['tokens_per_pass']:12.2f} {result['model_cost']:20.3f}")
    oracle = replay_policy(records, policies["default"], curve, oracle=True)
    print(f"{'oracle (no rejected row paid)':40} {oracle['tokens_per_pass']:12.2f} "
          f"{oracle['model_cost']:20.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
