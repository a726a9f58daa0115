"""Where a model comes from: a local directory, ``builtin:NAME``, or a hub id in the local cache.

Nothing is downloaded unless the caller explicitly allows it. Every failure is one line that
names the path looked at and what is wrong with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from codegend.engine.errors import ModelSourceError

BUILTIN_PREFIX = "builtin:"
DEFAULT_MODEL = "builtin:tiny-py"  # Python; what a command without --model loads
WEB_MODEL = "builtin:tiny-web"  # JavaScript, TypeScript, JSX, TSX and Vue
SUPPORTED_MODEL_TYPES = ("codegen",)
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


@dataclass(frozen=True)
class ResolvedModel:
    source: str  # what the user wrote
    path: Path  # the Hugging Face style directory
    config: dict  # parsed config.json
    weight_files: tuple[Path, ...]

    @property
    def model_type(self) -> str:
        return self.config.get("model_type", "")

    @property
    def vocab_size(self) -> int:
        return int(self.config["vocab_size"])

    @property
    def max_positions(self) -> int:
        return int(self.config.get("n_positions") or self.config.get("n_ctx") or 2048)


def builtin_models_dir() -> Path:
    return Path(str(resources.files("codegend.engine") / "models"))


def resolve_model_source(source: str, allow_download: bool = False) -> ResolvedModel:
    path = _locate(source, allow_download)
    config = _read_config(path)
    return ResolvedModel(source, path, config, _find_weights(path))


def _locate(source: str, allow_download: bool) -> Path:
    if source.startswith(BUILTIN_PREFIX):
        name = source[len(BUILTIN_PREFIX):]
        path = builtin_models_dir() / name
        if not (path / "config.json").is_file():
            available = sorted(p.parent.name for p in builtin_models_dir().glob("*/config.json"))
            raise ModelSourceError(
                f"{source}: no built-in model named {name!r} in {builtin_models_dir()} "
                f"(available: {', '.join(available) or 'none'})"
            )
        return path
    candidate = Path(source).expanduser()
    if candidate.exists() or _looks_like_path(source):
        if not candidate.is_dir():
            raise ModelSourceError(f"{candidate}: no such model directory")
        return candidate.resolve()
    return _from_hub_cache(source, allow_download)


def _looks_like_path(source: str) -> bool:
    return source.startswith(("/", ".", "~")) or source.count("/") != 1


def _from_hub_cache(repo_id: str, allow_download: bool) -> Path:
    from huggingface_hub import constants, snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=not allow_download))
    except Exception as err:  # hub errors differ by version; all mean "not available"
        if allow_download:
            raise ModelSourceError(f"{repo_id}: download failed ({err})") from err
        raise ModelSourceError(
            f"{repo_id}: not a local directory and not in the Hugging Face cache "
            f"({constants.HF_HUB_CACHE}); nothing is downloaded unless the model sets "
            "allow_download: true"
        ) from err


def _read_config(path: Path) -> dict:
    config_path = path / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ModelSourceError(f"{config_path}: missing (not a Hugging Face model directory)") \
            from err
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelSourceError(f"{config_path}: unreadable or corrupt JSON ({err})") from err
    if not isinstance(config, dict):
        raise ModelSourceError(f"{config_path}: expected a JSON object")
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ModelSourceError(
            f"{config_path}: model type {model_type!r} is not supported "
            f"(codegend runs {', '.join(SUPPORTED_MODEL_TYPES)})"
        )
    for key in ("vocab_size", "n_embd", "n_layer", "n_head"):
        if not isinstance(config.get(key), int):
            raise ModelSourceError(f"{config_path}: {key!r} is missing or not an integer")
    return config


def _find_weights(path: Path) -> tuple[Path, ...]:
    for name in WEIGHT_FILES:
        candidate = path / name
        if not candidate.is_file():
            continue
        if name.endswith(".index.json"):
            return _sharded_weights(candidate)
        _check_weights_readable(candidate)
        return (candidate,)
    raise ModelSourceError(f"{path}: no weights found (looked for {', '.join(WEIGHT_FILES)})")


def _sharded_weights(index_path: Path) -> tuple[Path, ...]:
    try:
        shard_names = sorted(set(json.loads(index_path.read_text())["weight_map"].values()))
    except (OSError, ValueError, KeyError, AttributeError) as err:
        raise ModelSourceError(f"{index_path}: corrupt weight index ({err})") from err
    shards = tuple(index_path.parent / name for name in shard_names)
    for shard in shards:
        if not shard.is_file():
            raise ModelSourceError(f"{shard}: weight shard named in {index_path.name} is missing")
        _check_weights_readable(shard)
    return shards


def _check_weights_readable(weights: Path) -> None:
    """Catch truncated or corrupt weights early, before any export or load starts."""
    if weights.suffix != ".safetensors":
        return
    from safetensors import safe_open

    try:
        # framework="numpy": reading the header needs no tensor library, and importing torch
        # here would cost seconds on a serving path that never touches it.
        with safe_open(str(weights), framework="numpy") as handle:
            keys = list(handle.keys())
    except Exception as err:  # safetensors raises its own error types
        raise ModelSourceError(f"{weights}: corrupt or truncated weights ({err})") from err
    if not keys:
        raise ModelSourceError(f"{weights}: the weights file holds no tensors")
