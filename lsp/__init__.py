"""codegend.lsp: the language server, which knows editors, documents, positions and prompts.

At the root: the ``server`` object and the one place it is built, the LSP ``handlers``,
codegend's own methods (``codegend_methods``), JSON-RPC handling (``jsonrpc``), editor
``settings``, the completion ``service`` that holds all mutable state, ``documents`` (from
pygls' workspace to a cursor), the ``daemon_connection`` and the requests ``inflight``.
``pipeline/`` holds the completion stages. It reaches the engine only through the daemon's
client interface.
"""
