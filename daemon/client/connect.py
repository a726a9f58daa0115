"""The one way ``codegend lsp`` gets its CompletionClient: in-process, or the shared daemon."""

from __future__ import annotations

from pathlib import Path

from codegend.daemon.client_api import CompletionClient


async def open_client(config_path: Path | None, embedded: bool) -> CompletionClient:
    """``embedded``: a daemon core in this process (same registry, routing, scheduler and hot
    swap as ``codegend serve``). Otherwise: the local daemon over HTTP, found through its
    runtime file or the config's address, started in the background when none answers.

    Raises ``ConfigError`` (a ``CodegendError``) when the config file is invalid.
    """
    from codegend.daemon.config import read_token, resolve_config

    config = resolve_config(config_path)
    if embedded:
        from codegend.daemon.client.embedded_client import EmbeddedClient
        from codegend.daemon.core import build_core
        from codegend.daemon.hot_swap import ConfigWatcher

        core = build_core(config)
        core.start()
        watcher = ConfigWatcher(core, config.path) if config.path else None
        if watcher is not None:
            watcher.start()
        return EmbeddedClient(core, watcher)
    from codegend.daemon.client.autostart import AutoStartClient

    client = AutoStartClient(config, read_token(config.server))
    client.connect_in_background()
    return client
