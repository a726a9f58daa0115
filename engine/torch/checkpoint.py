"""Reads a Hugging Face checkpoint as memory-mapped tensors, without copying it.

Every tensor-parallel rank opens the same checkpoint and keeps only its shard. Mapping the
files (instead of reading them) means a rank touches only the pages its shard lives on and
the ranks share the page cache, so four ranks of a 14 GB CodeGen-6B do not need 56 GB of RAM.
Both formats transformers writes are read: ``model.safetensors`` and ``pytorch_model.bin``,
single files or sharded with an ``*.index.json``.
"""

from __future__ import annotations

import json
import mmap
import struct
from pathlib import Path

import torch

from codegend.engine.errors import ModelSourceError

SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
SINGLE_FILES = ("model.safetensors", "pytorch_model.bin")
INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def read_hf_weights(model_dir: Path) -> dict[str, torch.Tensor]:
    """Every tensor of the checkpoint in ``model_dir``, by its Hugging Face name."""
    model_dir = Path(model_dir)
    for name in INDEX_FILES:
        index = model_dir / name
        if index.is_file():
            try:
                files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            except (OSError, ValueError, KeyError, AttributeError) as err:
                raise ModelSourceError(f"{index}: corrupt weight index ({err})") from err
            state: dict[str, torch.Tensor] = {}
            for file in files:
                state.update(read_weight_file(model_dir / file))
            return state
    for name in SINGLE_FILES:
        if (model_dir / name).is_file():
            return read_weight_file(model_dir / name)
    raise ModelSourceError(
        f"{model_dir}: no weights found (looked for {', '.join(SINGLE_FILES + INDEX_FILES)})"
    )


def read_weight_file(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            return _map_safetensors(path)
        return torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except ModelSourceError:
        raise
    except Exception as err:  # a corrupt file raises many different exception types
        raise ModelSourceError(f"{path}: cannot read the weights ({err})") from err


def _map_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Tensors viewing a private (copy-on-write) mapping of the file.

    The format is an 8-byte little-endian header length, a JSON header giving each tensor's
    dtype, shape and byte range, then the raw data.
    """
    with open(path, "rb") as handle:
        mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
    if len(mapping) < 8:
        raise ModelSourceError(f"{path}: truncated safetensors file")
    (header_len,) = struct.unpack("<Q", mapping[:8])
    if 8 + header_len > len(mapping):
        raise ModelSourceError(f"{path}: truncated safetensors header")
    header = json.loads(mapping[8 : 8 + header_len])
    base = 8 + header_len
    tensors: dict[str, torch.Tensor] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = SAFETENSORS_DTYPES.get(info["dtype"])
        if dtype is None:
            raise ModelSourceError(f"{path}: {name} has unsupported dtype {info['dtype']}")
        begin, end = info["data_offsets"]
        if base + end > len(mapping):
            raise ModelSourceError(f"{path}: {name} lies past the end of the file (truncated?)")
        count = (end - begin) // torch.empty((), dtype=dtype).element_size()
        if count == 0:
            tensors[name] = torch.empty(info["shape"], dtype=dtype)
            continue
        flat = torch.frombuffer(mapping, dtype=dtype, count=count, offset=base + begin)
        tensors[name] = flat.view(info["shape"])
    return tensors
