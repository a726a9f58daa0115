"""Progress of long steps on stderr: a bar on a terminal, plain lines in logs and CI."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class StageProgress:
    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.done = 0
        self._interactive = self.stream.isatty()
        self._started = time.monotonic()

    def start(self, stage: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self._started
        if self._interactive:
            width = 20
            filled = width * (self.done - 1) // max(self.total, 1)
            bar = "#" * filled + "." * (width - filled)
            self.stream.write(f"\r[{bar}] {self.done}/{self.total} {stage:<40} {elapsed:5.0f}s")
        else:
            self.stream.write(f"codegend: [{self.done}/{self.total}] {stage} ({elapsed:.0f}s)\n")
        self.stream.flush()

    def finish(self) -> None:
        if self._interactive:
            self.stream.write("\n")
            self.stream.flush()
