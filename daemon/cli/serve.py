"""``codegend serve``: the shared daemon, configured by one YAML file that it watches."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, metavar="PATH",
        help="the YAML config (default: the user config dir's codegend/config.yaml if it "
             "exists, else one built-in model for every language); edits apply live")
    parser.add_argument("--host", help="address to listen on (overrides server.host)")
    parser.add_argument("--port", type=int, help="port to listen on, 0 for any free port "
                                                 "(overrides server.port)")
    parser.add_argument("--log-file", type=Path, metavar="PATH",
                        help="log to PATH (rotated at 5 MB, two old files kept) instead of "
                             "stderr; stdout and stderr go there too")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import os
    import sys

    from codegend.daemon.config import resolve_config
    from codegend.daemon.http.lifecycle import run_daemon
    from codegend.daemon.http.process_log import log_to_file

    if args.log_file is not None:
        log_to_file(args.log_file)
    raise_open_file_limit()
    config = resolve_config(args.config, args.host, args.port)
    token = checked_token(config)
    refuse_if_running()
    asyncio.run(run_daemon(config, token=token))
    # Models are released and the runtime file is gone. Tearing down an interpreter that has
    # torch and ONNX Runtime loaded takes seconds and releases nothing more, so skip it: a
    # service manager (or an editor) waiting for the daemon to stop gets it at once.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def raise_open_file_limit() -> None:
    """The soft limit on open files up to the hard one (as Go's runtime does): the usual
    1,024 is little for a server; the connection cap keeps it from being needed."""
    try:
        import resource
    except ImportError:  # not on this platform
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            pass


def checked_token(config) -> str | None:
    """The bearer token, or None on loopback without one; refuses an unprotected public bind."""
    from codegend.daemon.config import ConfigError, read_token

    server = config.server
    if not 0 <= server.port <= 65535:
        raise ConfigError(f"port {server.port} is out of range (0-65535)")
    token = read_token(server)
    if token is None and not server.is_loopback:
        raise ConfigError(
            f"refusing to listen on {server.host} without a bearer token: anyone who can reach "
            "it could read the code sent for completion; set server.token_file or "
            "server.token_env (or listen on 127.0.0.1)")
    return token


def refuse_if_running() -> None:
    """One daemon per machine (per runtime directory): a second one would split the editors
    and hold a second copy of every model."""
    import os

    import httpx

    from codegend.daemon.runtime_file import read_runtime_info
    from codegend.engine.errors import CodegendError

    info = read_runtime_info()
    if info is None or info.pid == os.getpid():
        return
    try:
        os.kill(info.pid, 0)
        httpx.get(info.url + "/v1/health", timeout=2.0, trust_env=False)
    except (OSError, httpx.HTTPError):
        return  # a stale file left by a daemon that died
    raise CodegendError(f"a codegend daemon is already running at {info.url} (pid {info.pid}); "
                        "stop it first, or set CODEGEND_RUNTIME_DIR to run another one apart")
