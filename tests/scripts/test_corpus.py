"""Corpus building on constructed files: filters, deduplication, split by package, manifest."""

from __future__ import annotations

import json
from pathlib import Path

from default_model.corpus import directory_package, split_corpus, write_manifest
from default_model.dedup import deduplicate
from default_model.sources import SourceFile, npm_packages

BODY = "".join(f"def function_{n}(value):\n    return value * {n} + offset_{n}\n\n"
               for n in range(60))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_python_filters_each_rule(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    _write(root / "core.py", BODY)
    _write(root / "tests" / "test_core.py", BODY + "# test\n")
    _write(root / "_vendor" / "six.py", BODY + "# vendored\n")
    _write(root / "table.py", "# This file is auto-generated. Do not edit.\nX = 1\n")
    _write(root / "big.py", "x = 1\n" * 60_000)
    (root / "latin.py").write_bytes(b"s = '\xe9'\n")
    package = directory_package(root)
    assert [f.relative for f in package.files] == ["core.py"]
    assert package.skipped == {"test": 1, "vendored": 1, "generated": 1, "over 300 kB": 1,
                               "not UTF-8": 1}


def test_npm_packages_license_and_minified_files(tmp_path: Path) -> None:
    modules = tmp_path / "node_modules"
    _write(modules / "good" / "package.json", json.dumps({"name": "good", "license": "MIT"}))
    _write(modules / "good" / "lib" / "index.js",
           "export function add(a, b) {\n  return a + b;\n}\n")
    _write(modules / "good" / "dist" / "index.min.js", "var a=1;")
    _write(modules / "good" / "dist" / "bundle.js", "var x=" + "1+" * 3000 + "1;\n")
    _write(modules / "good" / "node_modules" / "inner" / "a.js", "var inner = 1;\n")
    _write(modules / "@scope" / "typed" / "package.json",
           json.dumps({"name": "@scope/typed", "license": "Apache-2.0"}))
    _write(modules / "@scope" / "typed" / "index.ts", "export const x: number = 1;\n")
    _write(modules / "copyleft" / "package.json", json.dumps({"name": "copyleft",
                                                              "license": "GPL-3.0"}))
    _write(modules / "copyleft" / "index.js", "module.exports = 1;\n")
    packages = {p.name: p for p in npm_packages(modules)}
    assert [f.relative for f in packages["good"].files] == ["lib/index.js"]
    assert packages["good"].skipped == {"minified": 2, "vendored": 1}
    assert [f.relative for f in packages["@scope/typed"].files] == ["index.ts"]
    assert not packages["copyleft"].verdict.allowed and not packages["copyleft"].files


def test_exact_and_near_duplicates_keep_the_first() -> None:
    original = SourceFile("a", "x.py", BODY)
    reformatted = SourceFile("b", "y.py", BODY.replace("\n", "\n\n"))
    edited = SourceFile("c", "z.py", BODY.replace("function_59", "renamed_59"))
    different = SourceFile("d", "w.py", BODY.replace("value", "item").replace("offset", "k"))
    kept, dropped = deduplicate([original, reformatted, edited, different])
    assert kept == [original, different]
    assert dropped == {"exact duplicate": 1, "near duplicate": 1}


def test_split_by_package_drops_training_copies_of_held_out_code(tmp_path: Path) -> None:
    for name in ("alpha", "beta", "gamma"):
        _write(tmp_path / name / "mod.py", BODY.replace("value", name))
    _write(tmp_path / "gamma" / "copy_of_beta.py", BODY.replace("value", "beta"))
    packages = [directory_package(tmp_path / n) for n in ("alpha", "beta", "gamma")]
    split, dropped = split_corpus(packages, ("beta",))
    assert {f.package for f in split.held_out} == {"beta"}
    assert {f.origin for f in split.train} == {"alpha/mod.py", "gamma/mod.py"}
    assert dropped["exact duplicate"] == 1
    manifest = write_manifest(tmp_path / "manifest.json", "python", packages, split, dropped,
                              {"alpha": 10, "beta": 5, "gamma": 7})
    assert manifest["train_tokens"] == 17 and manifest["held_out_tokens"] == 5
    rows = {r["package"]: r for r in json.loads((tmp_path / "manifest.json").read_text())
            ["packages"]}
    assert rows["beta"]["split"] == "held-out" and rows["gamma"]["files_kept"] == 1


def test_heldout_list_names_installed_held_out_packages_and_copies_own_samples(
        tmp_path: Path) -> None:
    from default_model.export import write_heldout_list

    held_out = [SourceFile("click", "click/core.py", "x" * 50),
                SourceFile("click", "click/utils.py", "x" * 90),
                SourceFile("rich", "rich/console.py", "x" * 900)]
    sample = tmp_path / "stack.ts"
    sample.write_text("export class Stack {}\n", encoding="utf-8")
    out = tmp_path / "model"
    out.mkdir()
    names = write_heldout_list(out, held_out, [sample])
    assert names == ["click/utils.py", "click/core.py", "samples/stack.ts"]
    assert (out / "samples" / "stack.ts").read_text() == "export class Stack {}\n"
    assert (out / "heldout_files.txt").read_text().split() == names
