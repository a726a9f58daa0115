"""Which held-out code a model's quality and calibration are measured on."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import click
import h11

from codegend.engine.quant.heldout import FALLBACK_STDLIB_FILES, default_heldout_files


def test_listed_files_resolve_in_the_model_dir_the_stdlib_and_site_packages(
        tmp_path: Path) -> None:
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "stack.ts").write_text("export class Stack {}\n", encoding="utf-8")
    (tmp_path / "heldout_files.txt").write_text(
        "samples/stack.ts\nclick/core.py\nh11/_connection.py\nstring.py\nnot/there.py\n",
        encoding="utf-8")
    files = default_heldout_files(tmp_path)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    assert files == [tmp_path / "samples" / "stack.ts",
                     Path(click.__file__).parent / "core.py",
                     Path(h11.__file__).parent / "_connection.py",
                     stdlib / "string.py"]


def test_without_a_list_or_any_listed_file_the_stdlib_fallback_is_used(tmp_path: Path) -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    fallback = [stdlib / name for name in FALLBACK_STDLIB_FILES]
    assert default_heldout_files(tmp_path) == fallback
    (tmp_path / "heldout_files.txt").write_text("gone/missing.py\n", encoding="utf-8")
    assert default_heldout_files(tmp_path) == fallback
    assert default_heldout_files(None) == fallback
