"""Calibration data for the recipes that look at activations (static INT8, GPTQ).

The calibration set is code, cut into token windows: the model's held-out files by default,
or a directory of the user's own code. The default windows come from the far end of the
held-out list, so they do not overlap the windows quality is measured on (which come from
its start). Each window is one prefill of the exported graph with an empty KV cache.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codegend.engine.errors import CodegendError
from codegend.engine.quant.heldout import code_files, default_heldout_files, token_sequences

CALIBRATION_DEFAULTS = {
    "calibration_dir": None,  # None: the model's held-out code
    "calibration_samples": 16,  # token windows run through the graph
    "calibration_tokens": 128,  # tokens per window
}


@dataclass(frozen=True)
class CalibrationSet:
    sequences: list[list[int]]
    source: str  # "held-out files of <model>" or the user's directory
    files: int

    def describe(self) -> dict:
        """What goes into the manifest: enough to tell two calibration sets apart."""
        digest = hashlib.sha256(json.dumps(self.sequences).encode()).hexdigest()[:16]
        return {"source": self.source, "files": self.files, "windows": len(self.sequences),
                "tokens_per_window": len(self.sequences[0]), "tokens_sha256": digest}


def calibration_set(model_dir: Path, options: dict) -> CalibrationSet:
    from codegend.engine.model_source import resolve_model_source
    from codegend.engine.tokenizer import load_tokenizer

    resolved = resolve_model_source(str(model_dir))
    tokenizer = load_tokenizer(resolved.path, resolved.vocab_size)
    length = min(int(options["calibration_tokens"]), resolved.max_positions)
    count = int(options["calibration_samples"])
    if length < 2 or count < 1:
        raise CodegendError("calibration needs calibration_tokens >= 2 and "
                            "calibration_samples >= 1")
    directory = options.get("calibration_dir")
    if directory:
        files = calibration_files(Path(directory).expanduser())
        source = str(Path(directory).expanduser())
    else:
        files = list(reversed(default_heldout_files(resolved.path)))
        source = f"held-out files of {resolved.path.name}"
        if not files:
            raise CodegendError(f"{resolved.path}: no held-out files to calibrate on; "
                                "set calibration_dir to a directory of code")
    try:
        sequences = token_sequences(files, tokenizer.encode, length, count)
    except CodegendError as err:
        raise CodegendError(f"calibration set {source}: {err}") from None
    return CalibrationSet(sequences, source, len(files))


def calibration_files(directory: Path) -> list[Path]:
    """Code files under ``directory``; an empty, missing or unreadable one is an error."""
    suffixes = (".py", ".pyi", ".js", ".ts", ".go", ".rs", ".java", ".c", ".h", ".cpp", ".cc",
                ".hpp", ".cs", ".rb", ".php", ".sh", ".kt", ".swift", ".scala", ".lua")
    try:
        return code_files(directory, suffixes)
    except PermissionError as err:
        raise CodegendError(f"{directory}: cannot read the calibration directory "
                            f"({err.strerror})") from None
    except CodegendError as err:
        raise CodegendError(f"calibration directory {err}") from None


def graph_inputs(model_path: Path) -> dict[str, list]:
    """Input name -> shape (ints for fixed axes, strings for symbolic ones)."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    shapes = {}
    for value in model.graph.input:
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") else d.dim_param
                              for d in dims]
    return shapes


def prefill_feeds(model_path: Path, sequences: list[list[int]]) -> list[dict[str, np.ndarray]]:
    """One input dict per window: the tokens, their mask and positions, an empty KV cache."""
    shapes = graph_inputs(model_path)
    feeds = []
    for ids in sequences:
        length = len(ids)
        feed = {"input_ids": np.asarray([ids], dtype=np.int64),
                "attention_mask": np.ones((1, length), dtype=np.int64)}
        if "position_ids" in shapes:
            feed["position_ids"] = np.arange(length, dtype=np.int64)[None, :]
        for name, shape in shapes.items():
            if name.startswith("past_key_values."):
                heads, head_dim = int(shape[1]), int(shape[3])
                feed[name] = np.zeros((1, heads, 0, head_dim), dtype=np.float32)
        missing = set(shapes) - set(feed)
        assert not missing, f"calibration cannot feed graph inputs {sorted(missing)}"
        feeds.append(feed)
    return feeds


class WindowReader:
    """ONNX Runtime's CalibrationDataReader protocol over prepared feeds.

    ``get_next`` hands out one feed at a time and ``None`` at the end; iterating works too
    (the GPTQ quantizer deep-copies the reader and iterates it).
    """

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self._feeds = feeds
        self._next = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= len(self._feeds):
            return None
        self._next += 1
        return self._feeds[self._next - 1]

    def rewind(self) -> None:
        self._next = 0

    def __iter__(self):
        return iter(list(self._feeds))

    def __len__(self) -> int:
        return len(self._feeds)
