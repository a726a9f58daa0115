"""How a graph lies on disk: ``model.onnx``, and its weights beside it when they are large.

A protobuf file cannot exceed 2 GB, so a graph whose weights pass ``SINGLE_FILE_LIMIT`` keeps
them in one external-data file named after the graph (``model.onnx.data``). Every stage that
writes or deletes a graph goes through here, so the name and the limit are written once.
``read_metadata`` reads a graph's metadata without parsing its (possibly gigabyte) weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

MODEL_FILE = "model.onnx"  # the graph of every artifact directory
# Bytes of weights one .onnx file may hold: protobuf's 2 GB cap, less room for the graph.
SINGLE_FILE_LIMIT = 1_800_000_000
METADATA_PROPS_FIELD = 14  # ModelProto.metadata_props, in onnx.proto


def data_file(path: Path) -> str:
    """The name of the external-data file a large graph at ``path`` keeps beside it."""
    return f"{path.name}.data"


def save_graph(model, path: Path, large: bool | None = None) -> bool:
    """Write ``model`` to ``path``, its weights in ``data_file(path)`` when ``large``
    (default: when the serialized model passes the limit). Returns whether they went there."""
    import onnx

    if large is None:
        large = model.ByteSize() > SINGLE_FILE_LIMIT
    if large:
        onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                  location=data_file(path))
    else:
        onnx.save(model, str(path))
    return large


def is_large_graph(model_path: Path) -> bool:
    """Whether the graph at ``model_path`` (with the files beside it) passes the limit: what
    it is derived into must keep its weights in external data too."""
    total = sum(p.stat().st_size for p in model_path.parent.iterdir() if p.is_file())
    return total > SINGLE_FILE_LIMIT


def remove_graph(path: Path) -> None:
    """Delete a helper graph and the external-data file a large one keeps beside it."""
    path.unlink(missing_ok=True)
    path.with_name(data_file(path)).unlink(missing_ok=True)


def read_metadata(path: Path) -> dict[str, str]:
    """The ``metadata_props`` of the graph at ``path``, read by walking the ModelProto's
    top-level fields and seeking over the others (the graph and its weights among them)."""
    from onnx import StringStringEntryProto

    props: dict[str, str] = {}
    with open(path, "rb") as handle:
        while (tag := _varint(handle)) is not None:
            field, wire_type = tag >> 3, tag & 7
            if wire_type == 0:
                _varint(handle)
            elif wire_type in (1, 5):  # fixed 64 / 32 bits
                handle.seek(8 if wire_type == 1 else 4, 1)
            elif wire_type == 2:  # length-delimited: a string, bytes or a message
                size = _varint(handle) or 0
                if field == METADATA_PROPS_FIELD:
                    entry = StringStringEntryProto.FromString(handle.read(size))
                    props[entry.key] = entry.value
                else:
                    handle.seek(size, 1)
            else:
                raise ValueError(f"{path}: not an ONNX model (protobuf wire type {wire_type})")
    return props


def _varint(handle: BinaryIO) -> int | None:
    """A protobuf base-128 varint; None at the end of the file."""
    value, shift = 0, 0
    while byte := handle.read(1):
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
        shift += 7
    return None
