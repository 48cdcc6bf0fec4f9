"""Serve any :class:`conformance.store_api.Store` as a stdio protocol program (PROTOCOL.md).

Contract: one JSON response line (flushed) per request line, in order; the loop ends after
``shutdown`` or at end of input, and then closes the store.
"""

from __future__ import annotations

import json
import logging
from typing import Any, BinaryIO

from conformance.protocol import (
    OPS,
    ProtocolError,
    allowed,
    encode_result,
    failure,
    request_arguments,
    success,
    validate_request,
    validate_response,
)
from conformance.protocol_client import Inconclusive
from conformance.store_api import Store
from reference.errors import ERROR_KINDS, StoreError

log = logging.getLogger(__name__)


def serve(store: Store, stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Answer requests read from binary ``stdin`` on binary ``stdout`` until shutdown or EOF."""
    session = _Session(store)
    try:
        for raw in stdin:
            response, done = session.answer(raw)
            stdout.write(json.dumps(response).encode("utf-8") + b"\n")
            stdout.flush()
            if done:
                break
    finally:
        store.close()


class _Session:
    """The state of one connection: the store and the capabilities it declared."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._capabilities: tuple[str, ...] | None = None

    def capabilities(self) -> tuple[str, ...]:
        if self._capabilities is None:
            hello = self.store.hello()
            self._capabilities = tuple(encode_result("hello", hello)["capabilities"])
        return self._capabilities

    def answer(self, raw: bytes) -> tuple[dict, bool]:
        """The response to one raw request line, and whether the session is over."""
        try:
            request = json.loads(raw)
        except ValueError as exc:
            return failure(None, "bad_request", f"a request must be one JSON object per line: {exc}"), False
        request_id = _request_id(request)
        try:
            op = validate_request(request)
        except ProtocolError as exc:
            return failure(request_id, "bad_request", str(exc)), False
        return self._call(op, request_id, request), op == "shutdown"

    def _call(self, op: str, request_id: int, request: dict) -> dict:
        try:
            needed = OPS[op]
            if not allowed(op, self.capabilities()):
                return failure(request_id, "unsupported", f"this store did not declare the {needed!r} capability")
            response = success(request_id, encode_result(op, self._invoke(op, request)))
            validate_response(op, response)
            return response
        except StoreError as exc:
            kind = exc.kind if exc.kind in ERROR_KINDS else "internal"
            return failure(request_id, kind, exc.message, None if exc.path is None else str(exc.path))
        except Inconclusive as exc:
            # The store cannot be asked any more (its own program hung or died): end the session so
            # the client reports it inconclusive with this reason, never an error verdict.
            log.error("the store became unusable during %s: %s", op, exc)
            raise
        except ProtocolError as exc:
            log.error("store result for %s does not fit the protocol: %s", op, exc)
            return failure(request_id, "internal", f"the store returned a result the protocol cannot carry: {exc}")
        except Inconclusive:
            raise  # the served store is itself a program that broke: this program breaks too, never "internal"
        except Exception as exc:  # a bug in the store: report it, keep serving
            log.exception("store raised during %s", op)
            return failure(request_id, "internal", f"{type(exc).__name__}: {exc}")

    def _invoke(self, op: str, request: dict) -> Any:
        if op == "shutdown":
            return None
        if op == "hello":
            return self.store.hello()
        return getattr(self.store, op)(**request_arguments(request))


def _request_id(request: Any) -> int | None:
    """The request's id when it is usable in a response, else None."""
    if not isinstance(request, dict):
        return None
    value = request.get("id")
    return value if type(value) is int and value >= 0 else None
