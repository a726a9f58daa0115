"""How the language server reaches the daemon: one client interface, three transports.

``connect`` is the one way to get a ``CompletionClient``: ``embedded_client`` (the core in
this process), or ``http_client`` to the shared daemon, found or started by ``autostart``.
"""
