"""pygls' language server protocol, with two gaps closed.

- Malformed requests get an answer. pygls turns a request whose params do not match the LSP
  types into an exception while parsing, before any handler runs, and never answers it, so
  the client waits forever. Here it gets the JSON-RPC "invalid params" error naming the
  method, and the server carries on with the next message.
- Params of codegend's own methods arrive as plain JSON (dicts and lists): pygls' default
  converter turns them into namedtuples, which cannot hold every key a client may send.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
import cattrs
from lsprotocol import converters
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.protocol import (
    JsonRPCNotification,
    JsonRPCRequestMessage,
    JsonRPCResponseMessage,
    LanguageServerProtocol,
)

logger = logging.getLogger(__name__)


def plain_json_converter() -> cattrs.Converter:
    """lsprotocol's converter; messages of methods it does not know keep plain JSON."""
    converter = converters.get_converter()
    for message_type in (JsonRPCRequestMessage, JsonRPCNotification, JsonRPCResponseMessage):
        converter.register_structure_hook(message_type, lambda obj, cls: cls(**obj))
    return converter


@attrs.define
class MalformedRequest:
    id: int | str
    method: str
    jsonrpc: str
    error: JsonRpcException


class CodegendProtocol(LanguageServerProtocol):
    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as err:
            request_id, method = data.get("id"), data.get("method")
            if not isinstance(request_id, int | str) or not isinstance(method, str):
                raise
            cause = err.__cause__
            detail = str(cause).splitlines()[0] if cause and str(cause) else "malformed"
            logger.warning("invalid params for %s (request %s): %s", method, request_id, detail)
            error = JsonRpcInvalidParams(f"invalid params for {method}: {detail}")
            return MalformedRequest(request_id, method, str(data.get("jsonrpc", "")), error)

    def handle_message(self, message: Any) -> None:
        if isinstance(message, MalformedRequest):
            self._send_response(message.id, error=message.error.to_response_error())
            return
        super().handle_message(message)
