"""The cached build: export → optimize → quantize, each stage an artifact keyed by its inputs.

``pipeline`` chains the stages (``engine/onnx`` and ``engine/quant`` do the work) and
``artifacts`` is the cache they land in: keyed by weights, recipe and library versions,
written atomically under a file lock, each with a manifest of how it was made.
"""
