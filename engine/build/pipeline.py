"""The ONNX pipeline: export → optimize → quantize, each stage cached and verified.

Each stage is an artifact keyed by its parent's key and its own recipe, so changing only the
quantization reuses the export and the optimized graph. The torch model (needed to export
and to validate) is loaded only when some stage actually has to be built.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from codegend.engine.build.artifacts import (
    Artifact,
    artifact_key,
    build_artifact,
    find_artifact,
    weights_digest,
)
from codegend.engine.build.progress import StageProgress, quiet_libraries
from codegend.engine.model_source import ResolvedModel
from codegend.engine.onnx.export import export_fp32
from codegend.engine.onnx.graph_files import MODEL_FILE
from codegend.engine.onnx.optimize import optimize
from codegend.engine.quant.heldout import default_heldout_files, token_sequences
from codegend.engine.quant.quality import compare_graphs
from codegend.engine.quant.recipes import get_recipe, resolve_options

QUALITY_SEQUENCE_TOKENS = 128
QUALITY_SEQUENCES = 8
EXPORT_RECIPE = {"exporter": "optimum", "task": "text-generation-with-past", "dtype": "fp32"}


@dataclass(frozen=True)
class BuildResult:
    artifact: Artifact  # the graph to serve
    built: tuple[str, ...]  # stages built by this call (empty: everything was cached)
    stages: tuple[Artifact, ...] = ()  # every stage's artifact, export first

    def stage(self, name: str) -> Artifact:
        return next(a for a in self.stages if a.manifest["stage"] == name)


def build_onnx_model(
    resolved: ResolvedModel,
    quantization: str = "dynamic-int8",
    *,
    for_gpu: bool = False,
    options: dict | None = None,
    heldout_files: list[Path] | None = None,
) -> BuildResult:
    recipe = get_recipe(quantization)
    recipe_options = resolve_options(recipe.name, options)
    digest = weights_digest(resolved.weight_files, resolved.path / "config.json")
    base = {"source": resolved.source, "source_path": str(resolved.path),
            "weights_sha256": digest}
    torch_model = functools.cache(lambda: _load_torch(resolved))

    stages = _plan(digest, for_gpu, recipe.name, recipe_options)
    progress = StageProgress(sum(1 for stage, key, _ in stages if not find_artifact(stage, key)))
    built: list[str] = []
    chain: list[Artifact] = []

    def build(stage: str, key: str, make) -> Artifact:
        if not find_artifact(stage, key):
            progress.start(f"{stage}: building")
        artifact, was_built = build_artifact(stage, key, quietly(make), base_manifest=base)
        if was_built:
            built.append(stage)
        chain.append(artifact)
        return artifact

    (fp32_stage, fp32_key, _), (opt_stage, opt_key, opt_recipe) = stages[0], stages[1]
    fp32 = build(fp32_stage, fp32_key,
                 lambda tmp: {"recipe": EXPORT_RECIPE, **export_fp32(resolved, tmp,
                                                                     torch_model())})
    optimized = build(opt_stage, opt_key, lambda tmp: {
        "recipe": opt_recipe,
        **optimize(fp32.directory, tmp, torch_model(), resolved.vocab_size, for_gpu),
    })
    if recipe.quantize is None:
        progress.finish()
        return BuildResult(optimized, tuple(built), tuple(chain))

    quant_stage, quant_key, quant_recipe = stages[2]

    def quantize(tmp: Path) -> dict:
        fields = recipe.quantize(optimized.model_path, tmp, recipe_options, resolved.path)
        sequences = _quality_sequences(resolved, heldout_files)
        report = compare_graphs(optimized.model_path, tmp / MODEL_FILE, sequences,
                                resolved.max_positions)
        return {"recipe": quant_recipe, "quantization": fields,
                "quality_vs_fp32": report.as_dict()}

    artifact = build(quant_stage, quant_key, quantize)
    progress.finish()
    return BuildResult(artifact, tuple(built), tuple(chain))


def _plan(digest: str, for_gpu: bool, recipe_name: str, options: dict) -> list[tuple]:
    """(stage name, key, recipe) for every stage the chosen recipe needs, in order."""
    fp32_key = artifact_key(digest, "fp32", EXPORT_RECIPE)
    opt_recipe = {"optimizer": "onnxruntime-transformers/gpt2", "fp16": for_gpu,
                  "attention": "GroupQueryAttention"}
    opt_stage = "optimized-fp16" if for_gpu else "optimized"
    opt_key = artifact_key(fp32_key, opt_stage, opt_recipe)
    stages = [("fp32", fp32_key, EXPORT_RECIPE), (opt_stage, opt_key, opt_recipe)]
    if recipe_name != "none":
        quant_recipe = {"quantization": recipe_name, **options}
        stages.append((recipe_name, artifact_key(opt_key, recipe_name, quant_recipe),
                       quant_recipe))
    return stages


def quietly(make):
    """``make`` run with the libraries quiet (it runs only when a stage is built)."""

    def run(tmp: Path) -> dict:
        with quiet_libraries():
            return make(tmp)

    return run


def _quality_sequences(resolved: ResolvedModel, files: list[Path] | None) -> list[list[int]]:
    from codegend.engine.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(resolved.path, resolved.vocab_size)
    length = min(QUALITY_SEQUENCE_TOKENS, resolved.max_positions)
    return token_sequences(files or default_heldout_files(resolved.path), tokenizer.encode,
                           length, QUALITY_SEQUENCES)


def _load_torch(resolved: ResolvedModel):
    from codegend.engine.torch.reference_stepper import load_torch_model

    return load_torch_model(resolved)
