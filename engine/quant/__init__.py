"""Quantization recipes: how the optimized graph becomes a smaller, faster one, and at what cost.

``recipes`` is the table (one entry per ``quantization:`` value, options checked by
``options``); each recipe's step is its own module (``dynamic_int8``, ``static_int8``,
``int4``, with our ``gptq`` for int4) over what they share (``graph_helpers``).
Calibration data comes from ``calibration``, held-out code from ``heldout``, and
``quality`` measures a quantized graph against fp32.
"""
