"""pygls' language server protocol, with the gaps a hostile or buggy client finds closed.

Every message body the framing delivers goes through :meth:`CodegendProtocol.receive`, which
never raises and never logs a traceback (the logging set-up keeps them for ``--debug``):

- a body that is not JSON is answered with "parse error" when an id can still be read from
  it; a message that is not a JSON-RPC 2.0 request, notification or response is answered
  with "invalid request" when it carries a usable id, else logged (once per kind);
- lone surrogates (legal in JSON's ``\\uD800`` escapes, in no encoding) become U+FFFD,
  which keeps every position the client computed;
- a request whose params do not match the LSP types gets "invalid params" naming the method
  (pygls never answered it, and the client waited forever); a notification like that is
  logged once;
- the lifecycle: before ``initialize`` requests get "server not initialized"; a second
  ``initialize`` and any request after ``shutdown`` get "invalid request"; ``exit`` ends
  the process (status 0 after ``shutdown``, else 1) through the server, at once.

Params of codegend's own methods arrive as plain JSON (dicts and lists): pygls' default
converter turns them into namedtuples, which cannot hold every key a client may send.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from typing import Any

import attrs
import cattrs
from lsprotocol import converters, types
from lsprotocol.types import CANCEL_REQUEST, ResponseErrorMessage
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcMethodNotFound,
    JsonRpcParseError,
    JsonRpcServerNotInitialized,
)
from pygls.protocol import (
    JsonRPCNotification,
    JsonRPCRequestMessage,
    JsonRPCResponseMessage,
    LanguageServerProtocol,
    lsp_method,
)

from codegend.lsp.positions import replace_lone_surrogates

logger = logging.getLogger(__name__)

_MAY_HAVE_SURROGATE = re.compile(rb"\\[uU][dD][89a-fA-F]|\xed[\xa0-\xbf]")
_ID_IN_BROKEN_JSON = re.compile(rb'"id"\s*:\s*(-?\d{1,15}|"[^"\\]{0,200}")')


def plain_json_converter() -> cattrs.Converter:
    """lsprotocol's converter; messages of methods it does not know keep plain JSON."""
    converter = converters.get_converter()
    for message_type in (JsonRPCRequestMessage, JsonRPCNotification):
        # JSON-RPC lets a request or notification omit its params.
        converter.register_structure_hook(
            message_type, lambda obj, cls: cls(**{"params": None, **obj}))
    converter.register_structure_hook(JsonRPCResponseMessage, lambda obj, cls: cls(**obj))
    return converter


@attrs.define
class MalformedRequest:
    id: int | str
    method: str
    jsonrpc: str
    error: JsonRpcException


def _usable_id(data: Any) -> int | str | None:
    """The id of a request we can answer: an integer or a string (not a bool, a float...)."""
    if not isinstance(data, dict) or "method" not in data:
        return None
    request_id = data.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, int | str):
        return None
    return request_id


def _envelope_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    if data.get("jsonrpc") != "2.0":
        return 'no "jsonrpc": "2.0"'
    if "method" in data:
        if not isinstance(data["method"], str):
            return "the method is not a string"
        if not isinstance(data.get("params"), dict | list | None):
            return "params are neither an object nor an array"
        if "id" in data and _usable_id(data) is None:
            return "the id is neither an integer nor a string"
    elif "id" not in data or not ("result" in data or "error" in data):
        return "neither a request, a notification nor a response"
    return None


def _without_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return replace_lone_surrogates(value)
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v)
                for k, v in value.items()}
    return value


def _one_line(err: BaseException) -> str:
    if isinstance(err, cattrs.ClassValidationError):
        return "; ".join(cattrs.transform_error(err)[:3])
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class CodegendProtocol(LanguageServerProtocol):
    def __init__(self, server: Any, converter: cattrs.Converter) -> None:
        super().__init__(server, converter)
        self.problems: Counter[str] = Counter()

    def _problem(self, kind: str, detail: str = "") -> None:
        """Log a kind of bad message once, then at every power of ten (a flood is a line)."""
        self.problems[kind] += 1
        count = self.problems[kind]
        if count == 1 or count in (10, 100, 1000, 10_000, 100_000):
            more = f" ({count} so far)" if count > 1 else ""
            logger.warning("ignored %s%s%s", kind, f": {detail}" if detail else "", more)

    def _error(self, request_id: int | str, error: JsonRpcException) -> None:
        self._send_response(request_id, error=error.to_response_error())

    # Bytes -> message --------------------------------------------------------------------
    def receive(self, body: bytes) -> None:
        """Handle one message body from the framing; nothing a client sends escapes here."""
        try:
            data = json.loads(body)
            if _MAY_HAVE_SURROGATE.search(body):
                data = _without_lone_surrogates(data)
        except (ValueError, RecursionError) as err:
            found = _ID_IN_BROKEN_JSON.search(body[:4096])
            if found is not None:
                self._error(json.loads(found.group(1)), JsonRpcParseError(
                    f"the message is not JSON: {_one_line(err)}"))
            self._problem("a message that is not JSON", _one_line(err)[:80])
            return
        problem = _envelope_problem(data)
        if problem is not None:
            request_id = _usable_id(data)
            if request_id is not None:
                self._error(request_id, JsonRpcInvalidRequest(f"invalid request: {problem}"))
            self._problem("an invalid JSON-RPC message", problem)
            return
        try:
            message = self.structure_message(data)
        except JsonRpcException as err:
            self._problem(f"a {data.get('method', 'message')} with invalid params", err.message)
            return
        try:
            self.handle_message(message)
        except Exception as err:  # a bug: one line (the traceback with --debug)
            logger.error("error handling %s: %s", data.get("method", "a response"), _one_line(err),
                         exc_info=logger.isEnabledFor(logging.DEBUG))

    def structure_message(self, data: dict[str, Any]) -> Any:
        """pygls' structuring, without its traceback per bad message; a request with bad
        params becomes a :class:`MalformedRequest` that is answered "invalid params"."""
        method = data.get("method")
        try:
            if "id" not in data:
                kind = self.get_message_type(method or "") or JsonRPCNotification
            elif "error" in data:
                kind = ResponseErrorMessage
            elif method is not None:
                kind = self.get_message_type(method) or JsonRPCRequestMessage
            else:
                kind = self._result_types.pop(data["id"], None) or JsonRPCResponseMessage
            return self._converter.structure(data, kind)
        except Exception as err:
            detail = _one_line(err)
            request_id = _usable_id(data)
            if request_id is None:
                raise JsonRpcInvalidParams(detail) from err
            error = JsonRpcInvalidParams(f"invalid params for {method}: {detail}")
            return MalformedRequest(request_id, str(method), str(data.get("jsonrpc")), error)

    # Lifecycle ---------------------------------------------------------------------------
    def handle_message(self, message: Any) -> None:
        if isinstance(message, MalformedRequest):
            self._problem("requests with invalid params", message.error.message[:120])
            self._error(message.id, message.error)
            return
        method = getattr(message, "method", None)
        request_id = getattr(message, "id", None) if method is not None else None
        if method is not None and method != types.EXIT:
            refusal = self._refusal(method)
            if refusal is None and not self._known(method):
                if request_id is None:  # LSP: unknown notifications are ignored
                    return
                self._problem("requests for unknown methods", repr(method)[:80])
                refusal = JsonRpcMethodNotFound(f"unknown method {method!r}")
            if refusal is not None:
                if request_id is not None:
                    self._error(request_id, refusal)
                else:
                    logger.debug("dropped %s: %s", method, refusal.message)
                return
        super().handle_message(message)

    def _known(self, method: str) -> bool:
        return (method == CANCEL_REQUEST or method in self.fm.builtin_features
                or method in self.fm.features)

    def _refusal(self, method: str) -> JsonRpcException | None:
        """Why the lifecycle refuses ``method`` now, if it does."""
        if self._workspace is None:
            if method == types.INITIALIZE:
                return None
            return JsonRpcServerNotInitialized("the server is not initialized yet")
        if method == types.INITIALIZE:
            return JsonRpcInvalidRequest("initialize was already received")
        if self._shutdown or self._server.lifecycle.shutting_down:
            return JsonRpcInvalidRequest("the server is shutting down")
        return None

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Any:
        """pygls' initialize, with its workspace replaced by ours as soon as it exists
        (before the server's own initialize handler runs)."""
        steps = super().lsp_initialize(params)
        try:
            step = next(steps)
        except StopIteration as done:
            self._workspace = self._server.adopt_workspace(self._workspace)
            return done.value
        self._workspace = self._server.adopt_workspace(self._workspace)
        while True:
            result = yield step
            try:
                step = steps.send(result)
            except StopIteration as done:
                return done.value

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> None:
        """Exit now: 0 after ``shutdown``, 1 without, as the specification says."""
        self._server.lifecycle.exit(0 if self._shutdown else 1)
