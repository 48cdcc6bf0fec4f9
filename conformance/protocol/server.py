"""Serve any :class:`conformance.store_api.Store` as a stdio protocol program (PROTOCOL.md).

Contract: one JSON response line (flushed) per request line, in order; the loop ends after
``shutdown`` or at end of input, and then closes the store; given a ``reopen`` factory, the server
declares the ``reopen`` capability and answers that op by closing the store and starting the next
session on a new one from the factory.  A request that does not follow its
schema is answered ``bad_request`` when checked: always in strict mode (``ROLLOUT_PROTOCOL_STRICT``),
else when :class:`conformance.protocol.SchemaSampling` picks it or the store's call fails.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, BinaryIO

from conformance.protocol.wire import OPS, REOPEN, ProtocolError, SchemaSampling, allowed, encode_result, failure, request_arguments, strict_from_environment, success, validate_request, validate_response
from conformance.api.errors import Inconclusive
from conformance.api.store import Store
from conformance.api.errors import ERROR_KINDS, StoreError


def serve(store: Store, stdin: BinaryIO, stdout: BinaryIO, reopen: Callable[[], Store] | None = None) -> None:
    """Answer requests read from binary ``stdin`` on binary ``stdout`` until shutdown or EOF;
    ``reopen`` makes a new store, as fresh as ``store`` was, for each session after the first."""
    session = _Session(store, reopen=reopen)
    try:
        for raw in stdin:
            response, done = session.answer(raw)
            stdout.write(json.dumps(response).encode("utf-8") + b"\n")
            stdout.flush()
            if done:
                break
    finally:
        session.store.close()


class _Session:
    """The state of one connection: the store, the capabilities it declared, what was checked."""

    def __init__(self, store: Store, strict: bool | None = None, reopen: Callable[[], Store] | None = None) -> None:
        self.store = store
        self._strict = strict
        self._reopen = reopen
        self._capabilities: tuple[str, ...] | None = None
        self._sampling = SchemaSampling(strict_from_environment() if strict is None else strict)

    def capabilities(self) -> tuple[str, ...]:
        if self._capabilities is None:
            self._capabilities = tuple(self._hello()["capabilities"])
        return self._capabilities

    def _hello(self) -> dict:
        """The hello result: the store's, plus ``reopen`` when this server can start a new session."""
        result = encode_result("hello", self.store.hello())
        if self._reopen is not None:
            result["capabilities"].append(REOPEN)
        return result

    def _start_over(self) -> None:
        """``reopen``: close the store (its writers, their locks) and continue as a new connection would."""
        self.store.close()
        self.store = self._reopen()
        self._capabilities = None
        self._sampling = SchemaSampling(strict_from_environment() if self._strict is None else self._strict)

    def answer(self, raw: bytes) -> tuple[dict, bool]:
        """The response to one raw request line, and whether the session is over."""
        try:
            request = json.loads(raw)
        except ValueError as exc:
            return failure(None, "bad_request", f"a request must be one JSON object per line: {exc}"), False
        request_id = _request_id(request)
        op = request.get("op") if isinstance(request, dict) else None
        op = op if isinstance(op, str) else None
        checked = op not in OPS or self._sampling.due(f"{op}.request")
        if checked:
            try:
                validate_request(request)
            except ProtocolError as exc:
                return failure(request_id, "bad_request", str(exc)), False
        return self._call(op, request_id, request, checked), op == "shutdown"

    def _call(self, op: str, request_id: int, request: dict, checked: bool) -> dict:
        try:
            needed = OPS[op]
            if not allowed(op, self.capabilities()):
                return failure(request_id, "unsupported", f"this store did not declare the {needed!r} capability")
            response = success(request_id, self._result(op, request))
            if self._sampling.due(f"{op}.response"):
                validate_response(op, response)
            return response
        except Exception as exc:
            if isinstance(exc, Inconclusive):
                # The store cannot be asked any more (its own program hung or died): end the session so
                # the client reports it inconclusive with this reason, never an error verdict.
                _report(f"the store became unusable during {op}: {exc}")
                raise
            if not checked:  # an unchecked request made the store fail: was it the request?
                try:
                    validate_request(request)
                except ProtocolError as bad:
                    return failure(request_id, "bad_request", str(bad))
            return _failure_of(op, request_id, exc)

    def _result(self, op: str, request: dict) -> dict:
        if op == "shutdown":
            return {}
        if op == "hello":
            return self._hello()
        if op == REOPEN:
            self._start_over()
            return {}
        return encode_result(op, getattr(self.store, op)(**request_arguments(request)))


def _failure_of(op: str, request_id: int, exc: Exception) -> dict:
    """The error answer for what the store's call raised (a bug in the store is ``internal``, and logged)."""
    if isinstance(exc, StoreError):
        kind = exc.kind if exc.kind in ERROR_KINDS else "internal"
        return failure(request_id, kind, exc.message, None if exc.path is None else str(exc.path))
    if isinstance(exc, ProtocolError):
        _report(f"store result for {op} does not fit the protocol: {exc}")
        return failure(request_id, "internal", f"the store returned a result the protocol cannot carry: {exc}")
    _report(f"store raised during {op}", with_traceback=True)
    return failure(request_id, "internal", f"{type(exc).__name__}: {exc}")


def _request_id(request: Any) -> int | None:
    """The request's id when it is usable in a response, else None."""
    if not isinstance(request, dict):
        return None
    value = request.get("id")
    return value if type(value) is int and value >= 0 else None


def _report(message: str, with_traceback: bool = False) -> None:
    """Tell the operator on stderr (never stdout: it carries the protocol) about a bug in the served store."""
    print(f"serve: ERROR {message}", file=sys.stderr)
    if with_traceback:
        import traceback  # only on this error path: the module is costly at every start-up

        traceback.print_exc(file=sys.stderr)
