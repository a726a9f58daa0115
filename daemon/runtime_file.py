"""The daemon's runtime file: where a running ``codegend serve`` listens, and its pid.

It lives in the user's runtime directory (``$CODEGEND_RUNTIME_DIR`` overrides it, for tests
and for running several isolated daemons), is written atomically once the socket listens, and
is removed at shutdown only by the daemon it names. The directory is private (mode 0700,
this user's), or codegend refuses to use it.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from codegend.engine.errors import CodegendError

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
    """The folder of the runtime files, created if needed; codegend's own folder is private
    (``CODEGEND_RUNTIME_DIR`` is taken as given)."""
    override = os.environ.get("CODEGEND_RUNTIME_DIR")
    if override:
        directory = Path(override)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        return directory
    if os.name != "posix":
        import platformdirs

        directory = Path(platformdirs.user_runtime_dir("codegend", appauthor=False))
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        return directory
    directory = _private_base() / "codegend"
    directory.mkdir(exist_ok=True, mode=0o700)
    _make_private(directory)
    return directory


def _private_base() -> Path:
    """$XDG_RUNTIME_DIR if it is private as the XDG specification requires (ours, mode
    0700), else /run/user/UID if it is, else our own private folder in the temporary
    directory. An XDG_RUNTIME_DIR that is not private is named in a warning, not silently
    replaced: the runtime files say where the daemon listens, and other users could read or
    replace them there."""
    fallback = Path(tempfile.gettempdir()) / f"codegend-{os.getuid()}"
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg:
        problem = _not_private(Path(xdg))
        if problem is None:
            return Path(xdg)
        warnings.warn(f"XDG_RUNTIME_DIR={xdg} {problem}: codegend keeps its runtime files in "
                      f"{fallback} instead", RuntimeWarning, stacklevel=3)
    else:
        default = Path(f"/run/user/{os.getuid()}")
        if _not_private(default) is None:
            return default
    fallback.mkdir(mode=0o700, exist_ok=True)
    _make_private(fallback)  # a name anyone could have created first: check it
    return fallback


def _not_private(path: Path) -> str | None:
    """What keeps ``path`` from being a private directory of this user, if anything."""
    try:
        info = path.lstat()
    except OSError:
        return "does not exist"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a directory"
    if info.st_uid != os.getuid():
        return "belongs to another user"
    if info.st_mode & 0o077:
        return f"has mode {info.st_mode & 0o777:04o}, not 0700"
    return None


def _make_private(directory: Path) -> None:
    """``directory`` (one codegend created) as 0700, or an error if it is not ours."""
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise CodegendError(f"the runtime directory {directory} is not a directory of this "
                            "user; remove it, or set CODEGEND_RUNTIME_DIR")
    if info.st_mode & 0o077:
        directory.chmod(0o700)


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
