"""Whether flock(2) excludes between this machine and another that reaches the same home (``probe --host``).

Contract: :func:`host_flock` opens an execnet gateway to the other machine (``ssh=user@host``,
``socket=HOST:PORT``, ``popen``; any execnet spec), has it take LOCK_EX on the probe file at the
path it sees while this side asks LOCK_EX|LOCK_NB, then the other way round, and returns the
verdict and detail of ``flock_between_hosts``: ``ok`` when both are refused, ``unsafe`` when either
is granted, ``unknown`` ("could not tell") when the host cannot be reached or does not answer.  A
host that is reached but does not show the probe file at that path raises :class:`HostPathMissing`.
"""

from __future__ import annotations

import fcntl
import os

#: Seconds to wait for each answer of the other side (a stalled gateway is "could not tell", not a hang).
ANSWER_TIMEOUT = 60.0


class HostPathMissing(Exception):
    """The host answered but does not see the probe file where it was told to look; says what to fix."""


class _CouldNotTell(Exception):
    """The other side did not answer as the exchange needs; the message says what happened."""


def _local_try(path: str) -> bool:
    """True when LOCK_EX|LOCK_NB on a fresh descriptor of ``path`` is granted here (then dropped)."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


class _Remote:
    """One channel to remote_lock.py on the other machine."""

    def __init__(self, spec: str) -> None:
        import execnet

        from conformance.probe import remote_lock

        try:
            self.gateway = execnet.makegateway(spec)
        except Exception as exc:  # noqa: BLE001 - any failure to reach the host means "could not tell"
            raise _CouldNotTell(f"could not reach the host through the execnet gateway {spec!r}: "
                                f"{type(exc).__name__}: {exc}") from None
        try:
            self.channel = self.gateway.remote_exec(remote_lock)
        except Exception as exc:  # noqa: BLE001
            self.gateway.exit()
            raise _CouldNotTell(f"could not start the probe's far side on {spec!r}: {exc}") from None

    def ask(self, message) -> tuple:
        try:
            self.channel.send(message)
            return tuple(self.channel.receive(timeout=ANSWER_TIMEOUT))
        except Exception as exc:  # noqa: BLE001 - a lost or silent gateway: the exchange did not happen
            raise _CouldNotTell(f"the host stopped answering ({type(exc).__name__}: {exc})") from None

    def close(self) -> None:
        try:
            self.channel.send("bye")
            self.channel.waitclose(ANSWER_TIMEOUT)
        except Exception:  # noqa: BLE001, S110 - closing a gateway that already broke
            pass
        self.gateway.exit()


def _exchange(remote: _Remote, local_path: str, remote_path: str, spec: str, shown: str) -> tuple[bool, str]:
    """(excludes, detail) from both directions; raises _CouldNotTell or HostPathMissing."""
    answer = remote.ask(remote_path)
    host = answer[1] if len(answer) > 1 else "?"
    if answer[0] == "missing":
        raise HostPathMissing(f"--host {spec}: host {host} does not see the home's probe file at {remote_path}; "
                              f"name the home's path on that machine with --host-path")
    held = remote.ask("hold")
    if held[0] != "held":
        raise _CouldNotTell(f"host {host} could not take LOCK_EX on {remote_path}: {held[1:]}")
    granted_here = _local_try(local_path)
    if remote.ask("release")[0] != "released":
        raise _CouldNotTell(f"host {host} did not release its lock")
    fd = os.open(local_path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        tried = remote.ask("try")
    finally:
        os.close(fd)
    if tried[0] not in ("granted", "refused"):
        raise _CouldNotTell(f"host {host} could not ask for the lock: {tried[1:]}")
    granted_there = tried[0] == "granted"
    there = f"host {host} ({spec}) through {shown}"
    first = (f"a LOCK_EX held on {there} is {'not seen' if granted_here else 'seen'} here "
             f"(LOCK_EX|LOCK_NB {'granted' if granted_here else 'refused'})")
    second = (f"one held here is {'not seen' if granted_there else 'seen'} there "
              f"({'granted' if granted_there else 'refused'})")
    return not (granted_here or granted_there), f"{first}; {second}"


def host_flock(scratch: str, home: str, spec: str, host_path: str | None) -> tuple[str, str]:
    """(verdict, detail) of flock between here and ``spec`` on ``scratch/lock`` (see the module docstring)."""
    seen = host_path or home
    remote_path = os.path.join(seen, os.path.relpath(scratch, home), "lock")
    try:
        remote = _Remote(spec)
    except _CouldNotTell as exc:
        return "unknown", f"could not tell: {exc}"
    try:
        excludes, detail = _exchange(remote, os.path.join(scratch, "lock"), remote_path, spec, seen)
    except _CouldNotTell as exc:
        return "unknown", f"could not tell: {exc}"
    finally:
        remote.close()
    return ("ok" if excludes else "unsafe"), detail
