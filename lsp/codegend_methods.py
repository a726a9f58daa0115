"""The codegend-specific part of the protocol, which the VS Code extension relies on.

- notification ``codegend/status`` (server → client) {state, model, message}: sent by the
  server whenever the engine's state changes (see ``daemon_connection``);
- request ``codegend/stats`` → {acceptance: [{model, language, shown, accepted,
  acceptedCharacters}], session: {requests, answeredByModel, answeredFromCache, ...}};
- request ``codegend/models`` → {models: [{name, state, reason}], active};
- request ``codegend/selectModel`` {model} → {active}: overrides routing by language until
  changed again (``model: null`` routes by language again);
- command ``codegend.accept`` [{model, language, length, id, source}]: the client runs it when
  the user accepts a suggestion; it counts the acceptance on this machine.
"""

from __future__ import annotations

import logging
from typing import Any

from pygls.exceptions import JsonRpcInvalidParams

from codegend.lsp.server import CodegendLanguageServer

logger = logging.getLogger(__name__)

STATS = "codegend/stats"
MODELS = "codegend/models"
SELECT_MODEL = "codegend/selectModel"
ACCEPT = "codegend.accept"


def codegend_stats(ls: CodegendLanguageServer, params: Any) -> dict[str, Any]:
    service = ls.service
    return {"acceptance": service.stats.as_json(), "session": service.counters.as_json()}


async def codegend_models(ls: CodegendLanguageServer, params: Any) -> dict[str, Any]:
    client = ls.service.connection.client
    models = await client.models() if client is not None else []
    return {
        "models": [{"name": m.name, "state": m.state, "reason": m.reason} for m in models],
        "active": ls.service.active_model(ls.settings),
    }


async def codegend_select_model(ls: CodegendLanguageServer, params: Any) -> dict[str, Any]:
    if not isinstance(params, dict) or "model" not in params:
        raise JsonRpcInvalidParams('codegend/selectModel needs {"model": NAME or null}')
    model = params["model"]
    if model is not None:
        client = ls.service.connection.client
        names = [m.name for m in await client.models()] if client is not None else []
        if not isinstance(model, str) or model not in names:
            known = ", ".join(names) or "none loaded yet"
            raise JsonRpcInvalidParams(f"unknown model {model!r} (configured: {known})")
    ls.service.select_model(model)
    ls.service.connection.refresh_in_background()
    return {"active": ls.service.active_model(ls.settings)}


def codegend_accept(ls: CodegendLanguageServer, *arguments: Any) -> None:
    details = arguments[0] if arguments and isinstance(arguments[0], dict) else {}
    model, language, length = details.get("model"), details.get("language"), details.get("length")
    if not isinstance(model, str) or not isinstance(language, str) or not isinstance(length, int):
        raise JsonRpcInvalidParams(
            "codegend.accept needs [{model: string, language: string, length: integer}]"
        )
    ls.service.accepted(model, language, length)


def register(server: CodegendLanguageServer) -> None:
    server.feature(STATS)(codegend_stats)
    server.feature(MODELS)(codegend_models)
    server.feature(SELECT_MODEL)(codegend_select_model)
    server.command(ACCEPT)(codegend_accept)
