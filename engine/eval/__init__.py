"""`codegend eval`: quantization recipes side by side, measured on held-out code.

``evaluation`` runs every recipe (quality against fp32, greedy completions at sampled
places from ``probes``, serving cost measured in a child process by ``serving_cost``, and
optionally which MatMuls each recipe hurts most, from ``sensitivity``); ``report`` turns the
result into a table, JSON and a plot.
"""
