"""The daemon's files on this machine: a private runtime directory, a bounded log."""

from __future__ import annotations

import logging
import os
import stat
import warnings
from pathlib import Path

import pytest

from codegend.daemon.http.process_log import RepeatLimiter, RotatingProcessLog
from codegend.daemon.runtime_file import runtime_dir

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CODEGEND_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    directory = tmp_path / "xdg"
    directory.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(directory))
    return directory


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_private_xdg_runtime_dir_is_used(xdg: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert runtime_dir() == xdg / "codegend"
    assert mode(xdg / "codegend") == 0o700


def test_an_xdg_runtime_dir_readable_by_others_is_named_and_not_used(xdg: Path) -> None:
    import tempfile

    xdg.chmod(0o755)
    tempfile.tempdir = None  # TMPDIR is read again
    try:
        with pytest.warns(RuntimeWarning, match=r"XDG_RUNTIME_DIR=.* has mode 0755, not 0700"):
            directory = runtime_dir()
    finally:
        tempfile.tempdir = None
    assert directory == xdg.parent / "tmp" / f"codegend-{os.getuid()}" / "codegend"
    assert mode(directory) == 0o700 and mode(directory.parent) == 0o700
    assert not (xdg / "codegend").exists()


def test_our_own_folder_is_made_private(xdg: Path) -> None:
    (xdg / "codegend").mkdir(mode=0o755)
    (xdg / "codegend").chmod(0o755)
    assert runtime_dir() == xdg / "codegend"
    assert mode(xdg / "codegend") == 0o700


def test_the_log_rotates_and_repeats_are_held_back(tmp_path: Path) -> None:
    path = tmp_path / "daemon.log"
    handler = RotatingProcessLog(path, max_bytes=2000, backups=2)
    handler.addFilter(RepeatLimiter(burst=3, window_s=60))
    logger = logging.getLogger("test.process_log")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for _ in range(500):
            logger.warning("socket.accept() out of system resource")
        for number in range(200):
            logger.warning(f"distinct message {number} {'x' * 40}")
    finally:
        logger.removeHandler(handler)
        handler.close()
    files = sorted(tmp_path.glob("daemon.log*"))
    assert [f.name for f in files] == ["daemon.log", "daemon.log.1", "daemon.log.2"]
    assert all(f.stat().st_size <= 2100 for f in files)
    text = "".join(f.read_text() for f in files)
    assert text.count("out of system resource") <= 3
