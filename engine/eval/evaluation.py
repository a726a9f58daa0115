"""Quantization recipes side by side: what each costs in quality and buys in size and speed.

For one model and a list of recipes, on held-out code, in one run:

- quality against fp32 (the optimized float graph): teacher-forced top-1 agreement,
  perplexity ratio and KL divergence over token windows, and exact match of greedy
  completions at sampled line starts;
- usefulness: next-line exact match and edit similarity of those completions to the real code;
- cost: artifact size, resident memory while serving, time to first token, per-token decode
  (each graph measured in its own process, see serving_cost.py).

The fp32 graph is always the first row: everything else is relative to it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from codegend.engine.errors import CodegendError
from codegend.engine.eval.probes import ProbeScores, sample_probes, score_probes
from codegend.engine.eval.sensitivity import NodeSensitivity, matmul_sensitivity
from codegend.engine.eval.serving_cost import ServingCost, measure_serving_cost
from codegend.engine.quant.heldout import code_files, default_heldout_files, token_sequences
from codegend.engine.quant.quality import QualityReport, compare_logits, onnx_logits
from codegend.engine.quant.recipes import recipe_label, resolve_options

log = logging.getLogger(__name__)

REFERENCE = "none"
SENSITIVITY_WINDOWS = 4  # windows the per-MatMul error is measured on


@dataclass(frozen=True)
class EvalSettings:
    windows: int = 16  # teacher-forced token windows
    window_tokens: int = 128  # tokens per window
    probes: int = 32  # line starts completed greedily
    completion_tokens: int = 32  # greedy tokens per probe
    prompt_tokens: int = 256  # left context of a probe, and the prompt timed for TTFT
    decode_tokens: int = 32  # decode steps timed per round
    repeats: int = 3  # timed rounds (median)
    threads: int | None = None  # intra-op threads; None: physical cores
    seed: int = 0  # which probes are drawn
    sensitivity: int = 0  # list this many most-hurt weight MatMuls per recipe (0: skip)


@dataclass(frozen=True)
class RecipeResult:
    label: str  # recipe name plus the options that differ from its defaults
    recipe: str
    options: dict
    artifact: str
    size_bytes: int
    quality: QualityReport
    probes: ProbeScores
    cost: ServingCost
    most_hurt: tuple[NodeSensitivity, ...] = ()  # worst first (with --sensitivity)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class EvalReport:
    model: str
    heldout: str
    settings: EvalSettings
    results: list[RecipeResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def reference(self) -> RecipeResult:
        return self.results[0]

    def decode_speedup(self, result: RecipeResult) -> float:
        return self.reference.cost.decode_s_per_token / result.cost.decode_s_per_token

    def ttft_speedup(self, result: RecipeResult) -> float:
        return self.reference.cost.ttft_s / result.cost.ttft_s

    def as_dict(self) -> dict:
        rows = []
        for result in self.results:
            rows.append({**result.as_dict(),
                         "decode_speedup": self.decode_speedup(result),
                         "ttft_speedup": self.ttft_speedup(result),
                         "size_ratio": result.size_bytes / self.reference.size_bytes})
        return {"model": self.model, "heldout": self.heldout,
                "settings": asdict(self.settings), "seconds": round(self.seconds, 1),
                "reference": self.reference.label, "results": rows}


def parse_recipes(specs: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """Checked (name, full options) pairs with the fp32 reference first, once."""
    checked = [(name, resolve_options(name, options)) for name, options in specs]
    return [(REFERENCE, {})] + [(n, o) for n, o in checked if n != REFERENCE]


def heldout_files(model_dir: Path, directory: Path | None) -> tuple[list[Path], str]:
    if directory is not None:
        return code_files(directory, (".py", ".pyi")), str(directory)
    files = default_heldout_files(model_dir)
    if not files:
        raise CodegendError(f"{model_dir}: no held-out files; name a directory with --heldout")
    return files, f"held-out files of {model_dir.name} ({len(files)})"


def evaluate_recipes(source: str, recipes: list[tuple[str, dict]],
                     heldout_dir: Path | None = None,
                     settings: EvalSettings | None = None) -> EvalReport:
    from codegend.engine.model_source import resolve_model_source
    from codegend.engine.tokenizer import load_tokenizer

    settings = settings or EvalSettings()
    started = time.monotonic()
    resolved = resolve_model_source(source)
    tokenizer = load_tokenizer(resolved.path, resolved.vocab_size)
    files, heldout = heldout_files(resolved.path, heldout_dir)
    window = min(settings.window_tokens, resolved.max_positions)
    sequences = token_sequences(files, tokenizer.encode, window, settings.windows)
    probes = sample_probes(files, settings.probes, settings.seed)
    if not probes:
        raise CodegendError(f"{heldout}: no line long enough to complete")
    context = max(1, min(settings.prompt_tokens,
                         resolved.max_positions - settings.completion_tokens))
    prompts = [tokenizer.encode(p.prompt)[-context:] for p in probes]

    report = EvalReport(source, heldout, settings)
    reference_logits = reference_ids = reference_graph = None
    for name, options in parse_recipes(recipes):
        label = recipe_label(name, options)
        log.info("eval %s: building or finding the artifact", label)
        artifact = _build(resolved, name, options)
        log.info("eval %s: teacher-forced quality on %d windows", label, len(sequences))
        logits = onnx_logits(artifact.model_path, sequences, resolved.max_positions,
                             settings.threads)
        log.info("eval %s: greedy completions at %d places", label, len(probes))
        completions = _complete(artifact.model_path, resolved, tokenizer, prompts, settings)
        if reference_logits is None:
            reference_logits, reference_ids = logits, completions
        log.info("eval %s: serving cost (own process)", label)
        cost = measure_serving_cost(artifact.model_path, resolved.max_positions,
                                    prompt_tokens=settings.prompt_tokens,
                                    decode_tokens=settings.decode_tokens,
                                    repeats=settings.repeats, threads=settings.threads)
        most_hurt: tuple = ()
        if settings.sensitivity and name != REFERENCE:
            log.info("eval %s: which MatMuls it hurts most", label)
            ranked = matmul_sensitivity(reference_graph, artifact.model_path,
                                        sequences[:SENSITIVITY_WINDOWS], settings.threads)
            most_hurt = tuple(ranked[: settings.sensitivity])
        if name == REFERENCE:
            reference_graph = artifact.model_path
        report.results.append(RecipeResult(
            label=label, recipe=name, options=options, artifact=str(artifact.directory),
            size_bytes=int(artifact.manifest["size_bytes"]),
            quality=compare_logits(reference_logits, logits, sequences),
            probes=score_probes(probes, completions, reference_ids, tokenizer.decode),
            cost=cost,
            most_hurt=most_hurt,
        ))
        del logits
    report.seconds = time.monotonic() - started
    return report


def _build(resolved, name: str, options: dict):
    from codegend.engine.build.pipeline import build_onnx_model

    return build_onnx_model(resolved, name, for_gpu=False, options=options).artifact


def _complete(model_path: Path, resolved, tokenizer, prompts: list[list[int]],
              settings: EvalSettings) -> list[list[int]]:
    from codegend.engine.generate import StepperGenerator
    from codegend.engine.onnx.stepper import OnnxStepper, create_session
    from codegend.engine.types import SamplingParams

    stepper = OnnxStepper(create_session(model_path, "cpu", settings.threads),
                          resolved.max_positions)
    generator = StepperGenerator("eval", stepper, tokenizer, resolved.max_positions)
    params = SamplingParams(max_new_tokens=settings.completion_tokens, temperature=0.0)
    try:
        return [generator.generate_ids(ids, params) for ids in prompts]
    finally:
        generator.close()

