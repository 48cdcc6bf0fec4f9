"""The stdio protocol (PROTOCOL.md) as data: schemas, validation, and JSON <-> store_api conversion.

Contract: messages are checked against ``conformance/protocol/schemas/*.json`` (JSON Schema draft 2020-12)
with :func:`validate_request` / :func:`validate_response` (compiled by :mod:`conformance.protocol.schema_check`,
which agrees with ``jsonschema``): every message in strict mode, else as :class:`SchemaSampling`
says (the first ones of each kind in a session, then a sample, every error answer), and the
``result`` object of each op converts losslessly to and from the store_api value with
:func:`encode_result` / :func:`decode_result`.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import asdict, replace
from functools import cache
from typing import Any

from conformance.protocol.schema_check import Check, compile_schema
from conformance.api.store import PROTOCOL_VERSION, CAPABILITIES, NARROW_CAPABILITIES, CleanupReport, Hello, ReadResult, SCOPES, RolloutEntry, SearchHit, WorkerReport, effective_capabilities

#: The protocol version this code speaks; a program answering another version is not usable.

#: The optional capability (and op) of a program that can end a session and start the next one in the
#: same process: PROTOCOL.md, "Reusing a program".  Not a store capability: the client strips it.
REOPEN = "reopen"

#: Every op, with the capability a program must declare to be asked it (None: always available).
OPS: dict[str, str | None] = {
    "hello": None,
    "configure": None,
    "read": "reader",
    "header": "reader",
    "list": "discovery",
    "find": "discovery",
    "search": "reader",
    "create": "writer",
    "append": "writer",
    "open_writer": "writer",
    "write": "writer",
    "close_writer": "writer",
    "materialize": "writer",
    "compress": "compressor",
    "run_worker": "compressor",
    "cleanup": "compressor",
    "archive": "lifecycle",
    "unarchive": "lifecycle",
    "delete": "lifecycle",
    "shutdown": None,
    REOPEN: REOPEN,
}


def allowed(op: str, capabilities) -> bool:
    """True when a store declaring ``capabilities`` may be asked ``op`` (its profile or a narrower one)."""
    needed = OPS[op]
    return needed is None or needed in effective_capabilities(capabilities) or any(
        op in NARROW_CAPABILITIES[name] for name in capabilities if name in NARROW_CAPABILITIES)


class ProtocolError(ValueError):
    """A message that does not follow the protocol; the text names the offending field."""


#: Set to 1 (``--strict-protocol`` of the suite does) to check every message of every session.
STRICT_ENV = "ROLLOUT_PROTOCOL_STRICT"


def strict_from_environment() -> bool:
    """Whether ``ROLLOUT_PROTOCOL_STRICT`` asks for every message to be checked."""
    return os.environ.get(STRICT_ENV, "") not in ("", "0")


class SchemaSampling:
    """Which messages of one session get the full schema check.

    Strict: every one.  Otherwise the first ``FIRST`` of each kind (an op's requests, its success
    answers) and one in ``EVERY`` after that: an adapter's bugs are systematic, so they show in
    its first answers of each op, while a check of every hot-path message costs more than the
    store's own work (an append) and lengthens every race campaign.  Error answers are always
    checked by the client; whatever is not checked must still decode, or the session is void.
    """

    FIRST = 8
    EVERY = 16

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self._seen: dict[str, int] = {}

    def due(self, kind: str) -> bool:
        """Count one message of ``kind``; True when it must be checked."""
        if self.strict:
            return True
        count = self._seen.get(kind, 0) + 1
        self._seen[kind] = count
        return count <= self.FIRST or count % self.EVERY == 0


#: The schema files ship inside the package (package data), next to this module.
SCHEMA_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")


def schemas() -> dict[str, dict]:
    """Every schema file of the protocol by name (``read.request``, ``error.response``, ``defs``)."""
    return {name.removesuffix(".json"): _schema(name.removesuffix(".json"))
            for name in os.listdir(SCHEMA_FOLDER)
            if name.endswith((".request.json", ".response.json")) or name == "defs.json"}  # not report.schema.json


@cache
def _schema(name: str) -> dict:
    with open(os.path.join(SCHEMA_FOLDER, f"{name}.json"), encoding="utf-8") as schema_file:
        return json.load(schema_file)


@cache
def _validator(name: str) -> Check:
    """The compiled check of one schema file, made on its first use: a session uses a few of them."""
    return compile_schema(_schema(name), _schema("defs")["$defs"])


def _check(schema_name: str, message: Any) -> None:
    violation = _validator(schema_name)(message, "")
    if violation is not None:
        where, text = violation
        raise ProtocolError(f"{schema_name} schema violated at {where.lstrip('/') or '(message)'}: {text}")


def validate_request(message: Any) -> str:
    """Check one request against its op's schema and return the op name (else ProtocolError)."""
    if not isinstance(message, dict):
        raise ProtocolError("a request must be a JSON object like {\"id\": 1, \"op\": \"hello\", ...}")
    op = message.get("op")
    if op not in OPS:
        raise ProtocolError(f"unknown op {op!r}; the ops are: {', '.join(OPS)}")
    _check(f"{op}.request", message)
    return op


def validate_response(op: str, message: Any) -> None:
    """Check one response to an ``op`` request: the op's success schema or the error schema."""
    if not isinstance(message, dict):
        raise ProtocolError("a response must be a JSON object with \"id\" and \"ok\"")
    _check(f"{op}.response" if message.get("ok") is True else "error.response", message)


def request_arguments(request: dict) -> dict[str, Any]:
    """The keyword arguments of the store_api method a validated request calls."""
    return {key: value for key, value in request.items() if key not in ("id", "op")}


def success(request_id: int, result: dict) -> dict:
    """A success response envelope."""
    return {"id": request_id, "ok": True, "result": result}


def failure(request_id: int | None, kind: str, message: str, path: str | None = None) -> dict:
    """An error response envelope (``kind`` from reference.errors.ERROR_KINDS)."""
    return {"id": request_id, "ok": False, "error": {"kind": kind, "message": message, "path": path}}


def encode_hello(hello: Hello) -> dict:
    """The hello result; ``full`` expands to every capability and the version is this protocol's."""
    capabilities = CAPABILITIES if "full" in hello.capabilities else tuple(hello.capabilities)
    return _plain(replace(hello, protocol=PROTOCOL_VERSION, capabilities=capabilities))


def _plain(value: Any) -> dict:
    return json.loads(json.dumps(asdict(value)))


def encode_result(op: str, value: Any) -> dict:
    """The JSON ``result`` object for what a store_api method returned for ``op``."""
    if op == "hello":
        return encode_hello(value)
    if op == "read":
        return {
            "content_b64": base64.b64encode(value.content).decode("ascii"),
            "items": value.items,
            "parse_errors": value.parse_errors,
            "representation": value.representation,
            "physical_path": value.physical_path,
        }
    if op == "header":
        return {"header": value}
    if op == "list":
        return {"entries": [asdict(entry) for entry in value]}
    if op == "find":
        return {"entry": None if value is None else asdict(value)}
    if op == "search":
        return {"hits": [asdict(hit) for hit in value]}
    if op in ("create", "append", "archive", "unarchive"):
        return {"path": value}
    if op == "open_writer":
        return {"handle": value}
    if op == "materialize":
        return {"materialized": value}
    if op == "compress":
        return {"outcome": value}
    if op in ("run_worker", "cleanup"):
        return _plain(value)
    return {}


def decode_result(op: str, result: dict) -> Any:
    """The store_api value for a validated ``result`` object of ``op``."""
    if op == "hello":
        return Hello(**{**result, "capabilities": tuple(result["capabilities"]),
                        "failpoints": tuple(result["failpoints"]),
                        "coordination": tuple(result.get("coordination", ())),
                        "scope": tuple(result.get("scope", SCOPES))})
    if op == "read":
        fields = {key: value for key, value in result.items() if key != "content_b64"}
        return ReadResult(content=base64.b64decode(result["content_b64"], validate=True), **fields)
    if op == "header":
        return result["header"]
    if op == "list":
        return [RolloutEntry(**entry) for entry in result["entries"]]
    if op == "find":
        return None if result["entry"] is None else RolloutEntry(**result["entry"])
    if op == "search":
        return [SearchHit(**hit) for hit in result["hits"]]
    if op in ("create", "append", "archive", "unarchive"):
        return result["path"]
    if op == "open_writer":
        return result["handle"]
    if op == "materialize":
        return result["materialized"]
    if op == "compress":
        return result["outcome"]
    if op == "run_worker":
        return WorkerReport(**{**result, "temps_removed": tuple(result["temps_removed"]),
                               "reconciled": tuple(result["reconciled"])})
    if op == "cleanup":
        return CleanupReport(**{key: tuple(value) for key, value in result.items()})
    return None
