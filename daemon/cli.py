"""The `codegend` command line: one subcommand per module, imported only when it runs.

Each command module exposes ``add_arguments(parser)`` and ``run(args) -> int`` and keeps
heavy imports (torch, onnxruntime) inside ``run`` so that ``codegend --help`` stays instant.
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
    ("complete", "codegend.daemon.cmd_complete",
     "complete a file at LINE:COL (or stdin) and print only the completion"),
    ("export", "codegend.daemon.cmd_export",
     "build (or find) a model's optimized, quantized ONNX artifact and print its manifest"),
    ("serve", "codegend.daemon.cmd_serve",
     "run the shared daemon: YAML-configured models behind an HTTP API on loopback"),
    ("lsp", "codegend.lsp.cmd_lsp",
     "run the language server on stdio for an editor (inline completions)"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codegend",
        description="Private, offline code completion from a local CodeGen model.",
    )
    parser.add_argument("--version", action="version", version=f"codegend {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, module_name, description in COMMANDS:
        command_parser = sub.add_parser(name, help=description, description=description)
        command_parser.set_defaults(_module=module_name)
        _command_module(module_name).add_arguments(command_parser)
    return parser


def _command_module(module_name: str):
    return importlib.import_module(module_name)


def main(argv: Sequence[str] | None = None) -> int:
    from codegend.engine.errors import CodegendError

    parser = build_parser()
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
        return int(_command_module(args._module).run(args) or 0)
    except CodegendError as err:
        if args.debug:
            raise
        print(f"codegend: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
