"""`codegend export`: build (or find) a model's ONNX artifact and print its manifest."""

from __future__ import annotations

import argparse
import json

from codegend.daemon.cli.model_arguments import add_model_arguments, model_spec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the manifest as JSON")


def run(args: argparse.Namespace) -> int:
    from codegend.engine.build.pipeline import build_onnx_model
    from codegend.engine.model_source import resolve_model_source
    from codegend.engine.placement import choose_placement, quantization_for

    spec = model_spec(args, backend="onnx")
    resolved = resolve_model_source(spec.source)
    placement = choose_placement(spec, resolved)
    result = build_onnx_model(resolved, quantization_for(spec, placement),
                              for_gpu=placement.device == "cuda",
                              options=spec.recipe()[1])
    manifest = {**result.artifact.manifest, "path": str(result.artifact.model_path),
                "built_now": list(result.built)}
    if args.json:
        print(json.dumps(manifest, indent=2, sort_keys=True))
    else:
        print(format_manifest(manifest))
    return 0


def format_manifest(manifest: dict) -> str:
    lines = [f"artifact    {manifest['path']}",
             f"source      {manifest['source']} ({manifest['source_path']})",
             f"stage       {manifest['stage']}  recipe {json.dumps(manifest.get('recipe'))}",
             f"size        {manifest['size_bytes'] / 1e6:.1f} MB",
             f"built now   {', '.join(manifest['built_now']) or 'nothing (cached)'}"]
    if "quality_vs_fp32" in manifest:
        q = manifest["quality_vs_fp32"]
        lines.append(f"quality     top-1 agreement {q['top1_agreement']:.3f}, perplexity ratio "
                     f"{q['perplexity_ratio']:.4f}, KL {q['kl_divergence']:.4g} "
                     f"({q['positions']} held-out positions)")
    if "fused_operators" in manifest:
        fused = manifest["fused_operators"]
        lines.append("fused       " + (", ".join(f"{k} x{v}" for k, v in fused.items()) or "none"))
    return "\n".join(lines)
