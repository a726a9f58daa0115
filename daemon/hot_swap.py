"""Hot swap: watch the config file and apply each saved version without a restart.

The folder is watched rather than the file because editors often save by writing a new file
and renaming it over the old one. Each change is validated, its models loaded and warmed while
the old ones keep serving, then switched (see ``DaemonCore.apply_config``). An invalid file
or a model that fails to load leaves the old config serving; the error goes to the log and to
``/v1/health``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from codegend.daemon.config import ConfigError, load_config
from codegend.daemon.core import DaemonCore

log = logging.getLogger(__name__)


class ConfigWatcher:
    def __init__(self, core: DaemonCore, path: Path, debounce_ms: int = 200) -> None:
        self.core = core
        self.path = path.expanduser().resolve()
        self.debounce_ms = debounce_ms
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=5.0)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()

    async def reload(self) -> bool:
        """Read, validate and apply the file now; False when it was rejected."""
        try:
            config = await asyncio.to_thread(load_config, self.path)
        except ConfigError as err:
            self.core.reject(str(self.path), str(err))
            return False
        return await self.core.apply_config(config)

    async def _watch(self) -> None:
        import watchfiles

        def is_config(_change: watchfiles.Change, changed: str) -> bool:
            return Path(changed).resolve() == self.path

        log.info("config: watching %s for changes", self.path)
        try:
            async for _changes in watchfiles.awatch(
                self.path.parent, watch_filter=is_config, stop_event=self._stop,
                debounce=self.debounce_ms, step=50, recursive=False,
            ):
                log.info("config: %s changed, reloading", self.path)
                await self.reload()
        except Exception:  # the daemon keeps serving its current config without hot swap
            log.exception("config: watching %s failed; hot swap is off", self.path)
