"""Serve the reference over stdio, letting a script replace the answer to chosen requests.

Imported by the scripts of this folder as the top-level module ``_misbehave``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable

# Run as a script, this folder is sys.path[0]; make the package that holds it importable too.
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))))

from conformance.protocol.server import _Session
from reference.store import ReferenceStore  # noqa: E402

# A hook gets (op, request, count of requests so far) and returns the raw line to send (bytes),
# or None to answer as the reference would.  It may also never return (hang) or exit (crash).
Hook = Callable[[str, dict, int], "bytes | None"]


def serve(hook: Hook) -> None:
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    session = _Session(ReferenceStore())
    for count, raw in enumerate(sys.stdin.buffer, start=1):
        try:
            request = json.loads(raw)
            op = request.get("op", "") if isinstance(request, dict) else ""
        except ValueError:
            request, op = {}, ""
        line = hook(op, request, count)
        if line is None:
            response, done = session.answer(raw)
            line = json.dumps(response).encode("utf-8")
        else:
            done = False
        out.write(line + b"\n")
        out.flush()
        if done:
            break
