"""Declares every capability in hello, then answers writer/compressor/lifecycle ops unsupported."""

import json

from _misbehave import serve

from conformance.protocol.wire import OPS


def hook(op, request, count):
    if OPS.get(op) in (None, "reader", "discovery"):
        return None
    return json.dumps({"id": request.get("id"), "ok": False, "error": {
        "kind": "unsupported", "message": f"{op} is not implemented", "path": None}}).encode()


serve(hook)
