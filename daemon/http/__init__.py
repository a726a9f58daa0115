"""The daemon over HTTP: native and OpenAI-compatible routes, what they share, the process.

``native_api`` builds the FastAPI app (the native endpoints ``codegend lsp`` uses, health,
metrics) and mounts ``openai_api``; ``support`` holds error statuses, guards and streaming;
``lifecycle`` runs ``codegend serve``: bind, announce, serve, shut down gracefully.
"""
