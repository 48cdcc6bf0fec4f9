"""The far side of ``probe --host``: run on the other machine through an execnet channel, it takes
and tries flock(2) locks on the probe file at the path that machine sees.

Contract: sent whole by ``gateway.remote_exec(module)`` (so it imports only the standard library);
it receives the probe file's path, answers ``("ready", hostname)`` or ``("missing", hostname)``,
then serves commands until ``"bye"``: ``"hold"`` takes LOCK_EX|LOCK_NB and answers ``("held",)``
or ``("refused", why)``; ``"release"`` drops it (``("released",)``); ``"try"`` asks LOCK_EX|LOCK_NB
on a fresh descriptor and answers ``("granted",)`` (then drops it) or ``("refused", why)``.
Never blocking on a lock keeps a wrong answer from hanging either side.
"""

import fcntl
import os
import socket


def _try(path):
    """("granted",) or ("refused", why) for LOCK_EX|LOCK_NB on a fresh descriptor of ``path``."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return ("refused", "EWOULDBLOCK")
    except OSError as exc:
        return ("error", f"flock: {exc.strerror}")
    finally:
        os.close(fd)  # closing drops a lock it took
    return ("granted",)


def serve(channel):
    path = channel.receive()
    host = socket.gethostname()
    if not os.path.isfile(path):
        channel.send(("missing", host))
        return
    channel.send(("ready", host))
    held = None
    while True:
        command = channel.receive()
        if command == "hold":
            held = os.open(path, os.O_RDWR)
            try:
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(held)
                held = None
                channel.send(("refused", exc.strerror))
            else:
                channel.send(("held",))
        elif command == "release":
            if held is not None:
                os.close(held)
                held = None
            channel.send(("released",))
        elif command == "try":
            channel.send(_try(path))
        else:  # "bye", or anything unknown: stop serving
            if held is not None:
                os.close(held)
            return


if __name__ == "__channelexec__":
    serve(channel)  # noqa: F821 - execnet defines ``channel`` in the remote namespace
