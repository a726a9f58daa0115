"""codegend: a private, offline code-completion daemon."""

__version__ = "0.1.0"
