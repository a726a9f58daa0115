"""The daemon's runtime file: where a running ``codegend serve`` listens, and its pid.

It lives in the user's runtime directory (``$CODEGEND_RUNTIME_DIR`` overrides it, for tests
and for running several isolated daemons), is written atomically once the socket listens, and
is removed at shutdown only by the daemon it names.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

RUNTIME_FILE = "daemon.json"
LOCK_FILE = "daemon.lock"
LOG_FILE = "daemon.log"


@dataclass(frozen=True)
class RuntimeInfo:
    url: str  # http://HOST:PORT of the running daemon
    pid: int
    config: str | None  # the config file it serves (None: the built-in default)
    started_at: float


def runtime_dir() -> Path:
    override = os.environ.get("CODEGEND_RUNTIME_DIR")
    if override:
        directory = Path(override)
    else:
        import platformdirs

        with warnings.catch_warnings():  # no XDG_RUNTIME_DIR: the /tmp fallback is fine
            warnings.simplefilter("ignore")
            directory = Path(platformdirs.user_runtime_dir("codegend", appauthor=False))
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory


def read_runtime_info(directory: Path | None = None) -> RuntimeInfo | None:
    path = (directory or runtime_dir()) / RUNTIME_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RuntimeInfo(url=str(data["url"]), pid=int(data["pid"]),
                           config=data.get("config"), started_at=float(data["started_at"]))
    except (OSError, ValueError, KeyError, TypeError):  # absent, half-written by hand, corrupt
        return None


def write_runtime_info(info: RuntimeInfo, directory: Path | None = None) -> Path:
    directory = directory or runtime_dir()
    path = directory / RUNTIME_FILE
    fd, tmp = tempfile.mkstemp(prefix=".daemon-", suffix=".json", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(asdict(info), handle)
    os.replace(tmp, path)
    return path


def remove_runtime_info(pid: int, directory: Path | None = None) -> None:
    """Remove the runtime file if it still names ``pid`` (a newer daemon may have replaced it)."""
    directory = directory or runtime_dir()
    info = read_runtime_info(directory)
    if info is not None and info.pid == pid:
        (directory / RUNTIME_FILE).unlink(missing_ok=True)
