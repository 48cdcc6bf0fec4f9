"""A second process for the probe: take a lock on one file and hold it until stdin closes.

Contract: ``python -m conformance.probe.holder PATH MODE`` (MODE ``ex`` or ``sh``) prints ``held``
once the flock(2) is taken, or ``error ERRNO MESSAGE`` when it is refused, then holds the lock
until its stdin reaches end of file; the probe reads that one line instead of sleeping.
"""

from __future__ import annotations

import fcntl
import os
import sys


def main(argv: list[str]) -> int:
    path, mode = argv
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if mode == "ex" else fcntl.LOCK_SH)
    except OSError as exc:
        print(f"error {exc.errno} {exc.strerror}", flush=True)
        return 1
    print("held", flush=True)
    sys.stdin.read()  # hold until the probe closes our stdin
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
