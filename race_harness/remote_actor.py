"""The far side of an actor on another host: the same actor code, spoken to over execnet channels.

Contract: the controller runs this module with ``gateway.remote_exec(remote_actor)``; :func:`serve`
receives the project's source folders (added to ``sys.path`` where they exist there), the actor's
setup and a history channel, then runs :func:`race_harness.actor.actor_main` unchanged with a
:class:`ChannelConn` for its pipe and a :class:`ChannelHistory` that sends each event to the
controller, which stamps it on its own clock (an invoke waits for that stamp before the operation
starts, so the controller's interval holds the real one).  Failpoint hits go to a Unix socket here
whose connections are relayed over channels to the controller's socket of this actor.  Only the
standard library is imported at the top: the project is importable only once :func:`serve` ran.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import threading
import time

#: The messages an actor and its controller exchange (race_harness.actor), by class name.
MESSAGES = ("Op", "Ready", "Done", "Broken", "Exited", "Stop")
INVOKE_ACK_TIMEOUT = 120.0


def encode(message) -> list:
    """[class name, fields] of an actor message: what an execnet channel can carry."""
    from dataclasses import asdict

    return [type(message).__name__, _plain(asdict(message))]


def decode(data) -> object:
    """The actor message ``encode`` made."""
    from race_harness import actor

    name, fields = data
    if name not in MESSAGES:
        raise ValueError(f"not an actor message: {name!r}")
    if name == "Ready":
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    return getattr(actor, name)(**fields)


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class ChannelConn:
    """The actor's end of its pipe, over an execnet channel (send, recv; EOFError once it closed)."""

    def __init__(self, channel) -> None:
        self.channel = channel

    def send(self, message) -> None:
        self.channel.send(encode(message))

    def recv(self):
        try:
            return decode(self.channel.receive())
        except (self.channel.RemoteError, EOFError, OSError) as exc:
            raise EOFError(str(exc)) from None


class ChannelHistory:
    """A HistoryWriter whose events go to the controller, which stamps and records them."""

    def __init__(self, channel, proc: str, host: str) -> None:
        self.channel, self.proc, self.host = channel, proc, host
        self._seq = 0

    def invoke(self, op: str, rollout: str = "", path: str = "", rids=()) -> int:
        self._seq += 1
        self.channel.send({"type": "invoke", "proc": self.proc, "seq": self._seq, "op": op, "rollout": rollout,
                           "path": path, "rids": list(rids), "host": self.host, "clock": time.time()})
        self.channel.receive(INVOKE_ACK_TIMEOUT)  # stamped: only now may the operation start
        return self._seq

    def complete(self, seq: int, kind: str, op: str, rollout: str, value=None, error: str = "") -> None:
        self.channel.send({"type": kind, "proc": self.proc, "seq": seq, "op": op, "rollout": rollout,
                           "value": _plain(value), "error": error, "host": self.host, "clock": time.time()})

    def close(self) -> None:
        self.channel.close()


def relay(sock: socket.socket, link) -> None:
    """Carry bytes both ways between a connected socket and a channel until either side ends."""

    def inbound(data) -> None:
        if data is None:  # the channel closed
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        try:
            sock.sendall(data)
        except OSError:
            pass

    def outbound() -> None:
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                link.send(data)
        except (OSError, EOFError):
            pass
        finally:
            try:
                link.close()
            except Exception:  # noqa: BLE001 - the gateway may be gone already
                pass
            sock.close()

    link.setcallback(inbound, endmarker=None)
    threading.Thread(target=outbound, daemon=True, name="failpoint-relay").start()


def _failpoint_socket(channel, folder: str) -> str:
    """A Unix socket here for the store's failpoint client; each connection is relayed to the controller."""
    path = os.path.join(folder, "failpoints.sock")  # a short path: Unix socket paths end at ~107 bytes
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            link = channel.gateway.newchannel()
            channel.send(["failpoint", link])
            relay(conn, link)

    threading.Thread(target=accept, daemon=True, name="failpoint-accept").start()
    return path


def serve(channel) -> None:
    """Run one actor here, as the controller's messages say (see the module docstring)."""
    folders, setup, history = channel.receive(), channel.receive(), channel.receive()
    for folder in reversed(folders):
        if os.path.isdir(folder) and folder not in sys.path:
            sys.path.insert(0, folder)
    import importlib

    try:
        from race_harness.actor import ActorSpec, actor_main
    except ImportError as exc:
        import platform

        channel.send(["Broken", {"actor": setup["name"], "error": f"the project is not importable by {sys.executable} "
                                 f"on {platform.node()} ({exc}): install it in that python, or name another with the "
                                 "gateway's //python= (docs/shared-homes.md)"}])
        return
    program = None
    if setup["program"]:
        # named, not imported here: the program's module (race_harness.campaign) starts actors through us
        module, _, name = setup["program"]["factory"].partition(":")
        program = getattr(importlib.import_module(module), name).from_wire(setup["program"])
    # The actor's own folder on this host (its stderr, its failpoint socket: /tmp keeps that path short);
    # its stderr goes back to the controller's work folder at the end.
    workdir = tempfile.mkdtemp(prefix="rh-actor-", dir="/tmp")
    spec = ActorSpec(setup["name"], setup["selection"], setup["home"], setup["cold_after"], workdir,
                     _failpoint_socket(channel, workdir) if setup["failpoints"] else None,
                     tuple(setup["failpoint_filter"]), program, setup["host"])
    try:
        actor_main(spec, ChannelConn(channel), ChannelHistory(history, spec.name, spec.host))
    finally:
        try:
            with open(os.path.join(workdir, f"stderr-{spec.name}.txt"), errors="replace") as handle:
                channel.send(["stderr", handle.read()])
        except (OSError, EOFError, ValueError):
            pass  # nothing written, or the controller is gone
        shutil.rmtree(workdir, ignore_errors=True)
    channel.send(["exited", 0])  # a process that died (a kill, a crash answer) never says this


if __name__ == "__channelexec__":
    serve(channel)  # type: ignore[name-defined]  # noqa: F821 - execnet defines it
