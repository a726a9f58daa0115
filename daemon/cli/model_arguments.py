"""The options that pick, place and run a model, shared by every command that loads one.

`complete` and `export` take the whole set; `eval` compares recipes instead of choosing one,
so it takes only the source options.
"""

from __future__ import annotations

import argparse

from codegend.engine.model_spec import DEVICES, ModelSpec


def add_model_source_arguments(parser: argparse.ArgumentParser) -> None:
    """Which model, and how many threads run it: every command that loads a model."""
    parser.add_argument("--model", default=None, metavar="SRC",
                        help="model directory, builtin:NAME, or cached hub id "
                             "(default: builtin:tiny-py; `complete FILE` takes the built-in "
                             "model of the file's language)")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra-op threads (default: physical cores)")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The source options plus the recipe and the device: what `complete` and `export` take."""
    add_model_source_arguments(parser)
    parser.add_argument("--quantization", default=None, metavar="RECIPE[:KEY=VALUE...]",
                        help="none, dynamic-int8, static-int8 or int4-weight-only, with options "
                             "(e.g. int4-weight-only:algorithm=gptq); default: static-int8 on "
                             "CPU, none on CUDA")
    parser.add_argument("--device", default="auto", choices=DEVICES)


def model_spec(args: argparse.Namespace, **fields) -> ModelSpec:
    """The ModelSpec the shared model options describe (plus command-specific ``fields``);
    a bad recipe fails here, before any model is looked for."""
    from codegend.engine.model_source import DEFAULT_MODEL

    spec = ModelSpec(source=args.model or DEFAULT_MODEL, device=args.device,
                     threads=args.threads, quantization=args.quantization, **fields)
    spec.recipe()
    return spec
