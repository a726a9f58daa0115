"""How a graph lies on disk: ``model.onnx``, and its weights beside it when they are large.

A protobuf file cannot exceed 2 GB, so a graph whose weights pass ``SINGLE_FILE_LIMIT`` keeps
them in one external-data file named after the graph (``model.onnx.data``). Every stage that
writes or deletes a graph goes through here, so the name and the limit are written once.
"""

from __future__ import annotations

from pathlib import Path

MODEL_FILE = "model.onnx"  # the graph of every artifact directory
# Bytes of weights one .onnx file may hold: protobuf's 2 GB cap, less room for the graph.
SINGLE_FILE_LIMIT = 1_800_000_000


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
