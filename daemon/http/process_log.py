"""The daemon's log file: bounded in size, and in how often one message repeats.

A daemon started by ``codegend lsp`` writes to ``daemon.log`` in the runtime directory and
runs for weeks; a flood (a client hammering it, a failing disk) once wrote 61 MB in 30 s.
:class:`RotatingProcessLog` is the standard library's ``RotatingFileHandler`` (the file is
rotated at ``max_bytes``, ``backups`` old files kept) that also receives the process's own
stdout and stderr (native libraries print there, a crash's last words too): both file
descriptors are pointed at the current file at every rotation. :class:`RepeatLimiter` lets
the same message (logger and format) through ``burst`` times a minute and then counts it.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path

MAX_LOG_BYTES = 5 * 1024 * 1024
LOG_BACKUPS = 2  # daemon.log.1 and daemon.log.2: at most 15 MB in all


class RotatingProcessLog(RotatingFileHandler):
    def __init__(self, path: Path, max_bytes: int = MAX_LOG_BYTES,
                 backups: int = LOG_BACKUPS, *, capture_std: bool = False) -> None:
        self.capture_std = capture_std  # point stdout and stderr at the file too
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")

    def _open(self):
        stream = super()._open()
        if not self.capture_std:
            return stream
        for std in (sys.stdout, sys.stderr):
            try:
                std.flush()
                os.dup2(stream.fileno(), std.fileno())
            except (OSError, ValueError):  # no such stream (pythonw, closed)
                pass
        return stream


class RepeatLimiter(logging.Filter):
    """At most ``burst`` records per message per ``window_s``; the next one that passes says
    how many were held back."""

    def __init__(self, burst: int = 10, window_s: float = 60.0) -> None:
        super().__init__()
        self.burst = burst
        self.window_s = window_s
        self._seen: dict[tuple[str, str], list[float]] = {}  # key -> [window start, count, held]

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = time.monotonic()
        window = self._seen.get(key)
        if window is None or now - window[0] > self.window_s:
            held = int(window[2]) if window else 0
            if len(self._seen) > 10_000:
                self._seen.clear()  # bounded: many distinct messages are not a repeat flood
            self._seen[key] = [now, 1, 0]
            if held:
                record.msg = f"{record.msg} ({held} similar messages were not logged)"
            return True
        window[1] += 1
        if window[1] <= self.burst:
            return True
        window[2] += 1
        return False


def log_to_file(path: Path) -> None:
    """Send the process's log (and stdout/stderr) to ``path``, rotated and rate-limited."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = RotatingProcessLog(path, capture_std=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RepeatLimiter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
