"""The ``codegend`` command line: ``main`` dispatches to one module per command.

Each command module exposes ``add_arguments(parser)`` and ``run(args) -> int`` and imports
what is heavy only inside ``run``.
"""
