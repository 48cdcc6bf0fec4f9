"""Claims protocol version 99 in its hello (it speaks version 1)."""

import json

from _misbehave import ReferenceStore, _Session, serve


def hook(op, request, count):
    if op != "hello":
        return None
    response, _ = _Session(ReferenceStore()).answer(json.dumps(request).encode())
    if response.get("ok"):
        response["result"]["protocol"] = 99
    return json.dumps(response).encode()


serve(hook)
