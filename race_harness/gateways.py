"""The controller's side of actors on other hosts: one execnet gateway per host, one process per actor.

Contract: :class:`Gateways` opens each host's gateway (its spec from ``--host``) the first time an
actor goes there, and starts every actor as its own process on that host (an execnet ``popen``
gateway made through the host's one), running :mod:`race_harness.remote_actor`.  A
:class:`RemoteActor` stands where a local actor's process and pipe stand in a run (pid, is_alive,
join, exitcode, kill; send, close), puts the actor's messages on the run's bus, relays its store's
failpoint connections to the controller's socket of that actor, and writes each history event the
actor sends to the actor's history file, stamped on arrival with the controller's clock
(``time.monotonic()`` here, as every local actor's events are) and with the actor's own clock kept
in ``clock``: skew between hosts cannot reorder the history.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from typing import Any

import execnet

from race_harness import remote_actor
from race_harness.actor import Exited
from race_harness.history import INVOKE, Event, append_event
from race_harness.hosts import Host

#: The folders the far side adds to sys.path: this source tree, when that host has it at the same path.
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KILL = "import os, signal\npid = channel.receive()\ntry:\n    os.killpg(pid, signal.SIGKILL)\nexcept OSError:\n    pass\nchannel.send(pid)"


class GatewayFailed(RuntimeError):
    """A host's gateway could not be opened; the message names the host, its spec and the cause."""


class Gateways:
    """The execnet gateways of one run: one per host, one more per actor (closed with :meth:`close`)."""

    def __init__(self) -> None:
        self.group = execnet.Group()
        self._lock = threading.Lock()

    def host_gateway(self, host: Host):
        """The gateway of ``host`` (opened on first use)."""
        ident = f"host-{host.name}"
        with self._lock:
            if ident not in self.group:
                try:
                    self.group.makegateway(f"{host.gateway}//id={ident}")
                except Exception as exc:  # noqa: BLE001 - any failure to reach a host is the same to a user
                    raise GatewayFailed(f"host {host.name}: the execnet gateway {host.gateway!r} could not be "
                                        f"opened ({type(exc).__name__}: {exc}); check that the machine is "
                                        "reachable and its python has this project installed") from None
            return self.group[ident]

    def start(self, host: Host, setup: dict, workdir: str, bus: Any) -> "RemoteActor":
        """Start one actor on ``host`` (``setup``: what race_harness.remote_actor.serve receives); its history
        and stderr go to ``workdir`` here."""
        master = self.host_gateway(host)
        gateway = self.group.makegateway(f"popen//via={master.id}")
        return RemoteActor(host, master, gateway, setup, workdir, bus)

    def close(self) -> None:
        for gateway in reversed(list(self.group)):  # the actors' first, then the hosts'
            try:
                gateway.exit()
            except Exception:  # noqa: BLE001 - its process is gone already
                pass
        try:
            self.group.terminate(timeout=10)  # whatever did not exit when asked
        except OSError:
            pass  # a gateway whose connection had closed already


class RemoteActor:
    """One actor on another host: its process (pid is that host's) and its pipe, seen from here."""

    remote = True

    def __init__(self, host: Host, master, gateway, setup: dict, workdir: str, bus: Any) -> None:
        self.host, self.master, self.gateway, self.bus = host, master, gateway, bus
        self.name = setup["name"]
        self.pid = 0  # its pid on that host, once it said Ready
        self.exitcode: int | None = None
        self.failpoint_socket = setup.pop("controller_socket", None)
        self._ended = threading.Event()
        self._killed = False
        self.workdir = workdir
        self._history = os.open(os.path.join(workdir, f"history-{self.name}.jsonl"), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self.channel = gateway.remote_exec(remote_actor)
        history = gateway.newchannel()
        history.setcallback(lambda data: self._record(history, data), endmarker=None)
        self.channel.send([SOURCE_ROOT])
        self.channel.send(setup)
        self.channel.send(history)
        threading.Thread(target=self._pump, daemon=True, name=f"remote-{self.name}").start()

    # -- the pipe ------------------------------------------------------------------------------
    def send(self, message: object) -> None:
        try:
            self.channel.send(remote_actor.encode(message))
        except (OSError, EOFError, ValueError) as exc:
            raise OSError(f"actor {self.name} on host {self.host.name} is gone: {exc}") from None

    def _pump(self) -> None:
        """Its messages onto the bus until its channel ends; then it has exited (status 0 only if it said
        so: a process killed there, or crashed at a failpoint, just goes away)."""
        code = -signal.SIGKILL
        try:
            while True:
                data = self.channel.receive()
                if data[0] == "exited":
                    code = data[1]
                    continue
                if data[0] == "failpoint":
                    self._relay_failpoints(data[1])
                    continue
                if data[0] == "stderr":  # what it wrote there, for the work folder (and so the bundle)
                    with open(os.path.join(self.workdir, f"stderr-{self.name}.txt"), "a") as handle:
                        handle.write(data[1])
                    continue
                message = remote_actor.decode(data)
                if getattr(message, "pid", None) and not self.pid:
                    self.pid = message.pid
                self.bus.put(message)
        except Exception:  # noqa: BLE001 - EOFError, RemoteError: the channel or the process ended
            pass
        self.exitcode = -signal.SIGKILL if self._killed else code
        self._ended.set()
        self.bus.put(Exited(self.name))

    def _relay_failpoints(self, link) -> None:
        if not self.failpoint_socket:
            link.close()
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(self.failpoint_socket)
        remote_actor.relay(sock, link)

    def _record(self, channel, data: dict | None) -> None:
        """Stamp one event on the controller's clock, write it, and let an invoke proceed."""
        if data is None or self._history is None:
            return
        stamped = time.monotonic()
        append_event(self._history, Event(data["type"], data["proc"], data["seq"], stamped, data["op"],
                                          data.get("rollout", ""), data.get("path", ""),
                                          tuple(data.get("rids") or ()), data.get("value"), data.get("error", ""),
                                          data.get("host", self.host.name), data.get("clock")))
        if data["type"] == INVOKE:
            try:
                channel.send(stamped)
            except (OSError, EOFError):
                pass  # the actor is gone: it will not start the operation anyway

    # -- the process ---------------------------------------------------------------------------
    def is_alive(self) -> bool:
        return not self._ended.is_set()

    def join(self, timeout: float | None = None) -> None:
        self._ended.wait(timeout)

    def kill(self) -> None:
        """SIGKILL its process group on its host (the store's helpers too: the actor is a session leader)."""
        self._killed = True
        if self.pid:
            try:
                channel = self.master.remote_exec(KILL)
                channel.send(self.pid)
                channel.receive(10)
            except Exception:  # noqa: BLE001 - the host or the actor is gone already
                pass
        try:
            self.gateway.exit()
        except Exception:  # noqa: BLE001 - as above
            pass

    def close(self) -> None:
        try:
            self.gateway.exit()
        except Exception:  # noqa: BLE001 - gone already
            pass
        if self._history is not None:
            os.close(self._history)
            self._history = None
