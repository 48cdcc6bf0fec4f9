"""Answers hello and configure, then prints a debug line instead of each JSON response."""

from _misbehave import serve


def hook(op, request, count):
    if op in ("hello", "configure", "shutdown"):
        return None
    return f"DEBUG: handling {op} {{request={request.get('id')}".encode()


serve(hook)
