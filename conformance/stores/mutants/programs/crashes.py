"""Answers hello and configure, then kills itself with SIGKILL at the next request."""

import os
import signal

from _misbehave import serve


def hook(op, request, count):
    if op in ("hello", "configure", "shutdown"):
        return None
    print(f"crashes.py: dying at {op}", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


serve(hook)
