"""Progress of long steps on stderr: a bar on a terminal, plain lines in logs and CI.

While a stage builds, the libraries it drives (torch's tracer, transformers, optimum, the
ONNX tools) stay quiet below errors (``quiet_libraries``): a user building an artifact sees
our progress lines, not tracer warnings or deprecation notices meant for library authors.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator
from typing import TextIO

VERBOSITY_VARIABLE = "TRANSFORMERS_VERBOSITY"
NOISY_LOGGERS = ("transformers", "optimum", "torch", "onnx", "onnxruntime", "onnxscript",
                 "onnx_ir", "accelerate")


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """Warnings ignored and the libraries' loggers at ERROR for the duration."""
    loggers = [logging.getLogger(name) for name in NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    # transformers and optimum set their loggers' level when first imported, from this
    # variable: a library imported inside the block would otherwise undo the setLevel below.
    verbosity = os.environ.get(VERBOSITY_VARIABLE)
    os.environ[VERBOSITY_VARIABLE] = "error"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)
            if verbosity is None:
                os.environ.pop(VERBOSITY_VARIABLE, None)
            else:
                os.environ[VERBOSITY_VARIABLE] = verbosity


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
