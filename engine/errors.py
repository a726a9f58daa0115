"""Errors a user can act on.

Every boundary a user touches (CLI, config, HTTP, LSP) turns these into one clear line:
what is wrong and where it was looked for. Internal invariants use ``assert`` instead.
"""


class CodegendError(Exception):
    """A problem the user can fix; ``str(err)`` is the one line to show them."""


class ModelSourceError(CodegendError):
    """A model could not be found, read or run: the message names the path and the problem."""


class ArtifactError(CodegendError):
    """Building or validating an ONNX artifact failed (export, optimization, quantization)."""
