"""codegend.daemon: the service that owns configuration, the loaded models and who runs next.

At the root: the client interface the language server uses (``client_api``), the YAML
``config``, the ``core`` that holds all service state, the model ``registry``, each model's
``scheduler``, ``routing`` by language, ``hot_swap``, ``metrics`` and the ``runtime_file``.
The rooms: ``http/`` (the API and the ``codegend serve`` process), ``client/`` (how the
language server reaches a daemon) and ``cli/`` (the ``codegend`` command line).
"""
