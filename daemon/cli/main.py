"""The `codegend` command line: one subcommand per module, imported only when it runs.

Each command module exposes ``add_arguments(parser)`` and ``run(args) -> int`` and keeps
heavy imports (torch, onnxruntime) inside ``run``; ``codegend --help`` imports none of them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from codegend import __version__

# (name, module, one-line description) in the order `codegend --help` lists them.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("complete", "codegend.daemon.cli.complete",
     "complete a file at LINE:COL (or stdin) and print only the completion"),
    ("export", "codegend.daemon.cli.export",
     "build (or find) a model's optimized, quantized ONNX artifact and print its manifest"),
    ("eval", "codegend.daemon.cli.eval",
     "measure quantization recipes against fp32: quality, size and speed"),
    ("serve", "codegend.daemon.cli.serve",
     "run the shared daemon: YAML-configured models behind an HTTP API on loopback"),
    ("lsp", "codegend.lsp.cli_command",
     "run the language server on stdio for an editor (inline completions)"),
)


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser; only the chosen subcommand's module is imported (for its arguments)."""
    parser = argparse.ArgumentParser(
        prog="codegend",
        description="Private, offline code completion from a local CodeGen model.",
    )
    parser.add_argument("--version", action="version", version=f"codegend {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    for name, module_name, description in COMMANDS:
        command_parser = sub.add_parser(name, help=description, description=description)
        command_parser.set_defaults(_module=module_name)
        if name == chosen:
            importlib.import_module(module_name).add_arguments(command_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from codegend.engine.errors import CodegendError

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    # Our own log lines at INFO; libraries (the ONNX quantizer logs every tensor) only warn.
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="codegend: %(message)s" if not args.debug else "%(asctime)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("codegend").setLevel(logging.DEBUG if args.debug else logging.INFO)
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except CodegendError as err:
        if args.debug:
            raise
        print(f"codegend: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # a bug or an unforeseen failure: still one line, no traceback
        if args.debug:
            raise
        print(f"codegend: error: unexpected {type(err).__name__}: {err} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return 1
