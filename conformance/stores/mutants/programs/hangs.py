"""Answers hello and configure, then never answers again (see conformance.stores.mutants.programs)."""

import time

from _misbehave import serve


def hook(op, request, count):
    if op in ("hello", "configure", "shutdown"):
        return None
    print(f"hangs.py: not answering {op}", flush=True)  # goes to stderr
    while True:
        time.sleep(3600)


serve(hook)
