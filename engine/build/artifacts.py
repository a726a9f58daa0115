"""The artifact cache: built ONNX graphs keyed by what they were made from.

An artifact is a directory ``<cache>/artifacts/<stage>-<key>/`` holding ``model.onnx`` (plus
external data for large models) and ``manifest.json``. The key hashes the source weights, the
recipe of every stage up to this one and the library versions, so a change to any of them
builds anew while a repeat run finds the artifact and builds nothing. Builds happen in a
temporary directory that is renamed into place, under a file lock, so two processes building
the same artifact at once end with one complete copy and neither sees a half-written one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from codegend.engine.errors import ArtifactError
from codegend.engine.onnx.graph_files import MODEL_FILE

MANIFEST = "manifest.json"


def cache_root() -> Path:
    """``$CODEGEND_CACHE_DIR`` or the platform's user cache directory."""
    override = os.environ.get("CODEGEND_CACHE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("codegend", appauthor=False))


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("torch", "transformers", "optimum", "optimum-onnx", "onnx",
                    "onnxruntime-gpu", "onnxruntime"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions


def weights_digest(weight_files: tuple[Path, ...], config_path: Path) -> str:
    """sha256 over the config and weights, memoised by (path, size, mtime) so that a
    multi-gigabyte checkpoint is hashed once, not on every start."""
    memo_path = cache_root() / "weight-digests.json"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    digest = hashlib.sha256()
    for path in (config_path, *weight_files):
        stat = path.stat()
        memo_key = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
        if memo_key not in memo:
            memo[memo_key] = _file_sha256(path)
        digest.update(memo[memo_key].encode())
    _write_json_atomically(memo_path, memo)
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def artifact_key(parent_key: str, stage: str, recipe: dict) -> str:
    payload = json.dumps(
        {"parent": parent_key, "stage": stage, "recipe": recipe, "versions": library_versions()},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Artifact:
    directory: Path
    manifest: dict

    @property
    def model_path(self) -> Path:
        return self.directory / MODEL_FILE

    @property
    def key(self) -> str:
        return self.manifest["key"]


def find_artifact(stage: str, key: str) -> Artifact | None:
    directory = cache_root() / "artifacts" / f"{stage}-{key}"
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not (directory / MODEL_FILE).is_file():
        return None
    return Artifact(directory, manifest)


def build_artifact(
    stage: str, key: str, build: Callable[[Path], dict], *, base_manifest: dict
) -> tuple[Artifact, bool]:
    """Find the artifact or build it with ``build(tmp_dir) -> manifest fields``.

    Returns (artifact, built). The build runs under a per-key file lock; the finished
    directory appears by one atomic rename, manifest included.
    """
    from filelock import FileLock

    found = find_artifact(stage, key)
    if found:
        return found, False
    artifacts_dir = cache_root() / "artifacts"
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(artifacts_dir / f".{stage}-{key}.lock")):
        found = find_artifact(stage, key)  # another process may have finished meanwhile
        if found:
            return found, False
        started = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix=f".{stage}-{key}.", dir=artifacts_dir))
        try:
            fields = build(tmp)
            manifest = {**base_manifest, **fields, "stage": stage, "key": key,
                        "build_seconds": round(time.monotonic() - started, 2),
                        "size_bytes": _directory_size(tmp),
                        "versions": library_versions()}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
            final = artifacts_dir / f"{stage}-{key}"
            os.replace(tmp, final) if not final.exists() else shutil.rmtree(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    artifact = find_artifact(stage, key)
    if artifact is None:
        raise ArtifactError(f"{artifacts_dir}: the {stage} artifact vanished after its build")
    return artifact, True


def _directory_size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def _write_json_atomically(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "w") as out:
        json.dump(data, out)
    os.replace(tmp, path)
