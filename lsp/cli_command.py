"""`codegend lsp`: the language server an editor starts, speaking LSP on stdio.

By default it reaches the shared daemon on this machine (starting one if none answers);
``--embedded`` runs the daemon core inside this process instead.
"""

from __future__ import annotations

import argparse
import logging

LOOPBACK = "127.0.0.1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="run the models in this process instead of sharing the machine's daemon",
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="the daemon's YAML config (default: the configPath setting, then the user config)",
    )
    parser.add_argument(
        "--tcp",
        metavar="PORT",
        type=int,
        help=f"listen on {LOOPBACK}:PORT instead of stdio (for debugging)",
    )
    # vscode-languageclient appends --stdio to the server's arguments; stdio is the default.
    parser.add_argument("--stdio", action="store_true", help=argparse.SUPPRESS)


class OneLineErrors(logging.Filter):
    """Log records without their traceback: the exception's first line joins the message.
    Installed unless ``--debug``: a client sending garbage must not fill the editor's log
    panel with stack traces (pygls logs one for every error it meets)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            err = record.exc_info[1]
            text = str(err).strip().splitlines()
            record.msg = f"{record.getMessage()}: {type(err).__name__}" + (
                f": {text[0]}" if text else "")
            record.args = None
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


def configure_logging(debug: bool) -> None:
    """The language server's logging (on top of the CLI's): quiet libraries, one line per
    error unless ``debug``."""
    if debug:
        return
    # pygls logs every message (document text included) at INFO; stderr is the editor's
    # log panel, so keep it to what needs attention.
    logging.getLogger("pygls").setLevel(logging.WARNING)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="codegend: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(OneLineErrors())


def _stats_path() -> str:
    import platformdirs

    return str(platformdirs.user_state_path("codegend") / "lsp-acceptance.json")


def run(args: argparse.Namespace) -> int:
    from codegend.lsp.server import build_server
    from codegend.lsp.settings import ServerOptions

    configure_logging(getattr(args, "debug", False))
    if args.tcp is not None and not 0 < args.tcp < 65536:
        raise SystemExit(f"codegend lsp: --tcp {args.tcp} is not a port number (1-65535)")
    options = ServerOptions(
        embedded=args.embedded, config_path=args.config, stats_path=_stats_path()
    )
    server = build_server(options)
    if args.tcp is not None:
        server.start_tcp(LOOPBACK, args.tcp)
    else:
        server.start_io()
    return 0
