"""One run: a work folder, a shared home, a failpoint controller and the actor processes.

Contract: :class:`Run` starts actors (each with its own instance of its role's store, see
:mod:`race_harness.roles`, and its own failpoint socket), sends them operations, waits for their
results or their held failpoints on one event bus, kills them on demand, and at the end hands the
merged history to the checker.  With a :class:`~race_harness.hosts.Placement`, the home is a fresh
folder of the hosts' shared folder and each placed role's actors start on their host (through its
execnet gateway when it has one, race_harness/gateways.py).  Every harness decision
that is not a failpoint answer (a kill, a clock change, a stall release) goes into :attr:`notes`.
"""

from __future__ import annotations

import os
import queue
import random
import shutil
import signal
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import multiprocess

from conformance.runtime.processes import descendants

from conformance.oracle import disk
from race_harness.actor import ActorSpec, Broken, Done, Exited, Op, Ready, Stop, actor_main
from conformance.protocol.failpoint_channel import CONTINUE, CRASH, Controller, Held, Hit
from race_harness.checker import Violation
from race_harness.history import Operation, load_events, operations
from race_harness.home_mounts import HomeMounts
from race_harness.hosts import Placement
from race_harness.roles import HARNESS, Roles, role_of_actor

_CTX = multiprocess.get_context("fork")
READY_TIMEOUT = 30.0
#: How far an ``age`` operation back-dates a plain rollout: past any cold age, a fixed week included.
IDLE_WEEK_AND_MORE = 8 * 24 * 3600.0


class ActorFailed(RuntimeError):
    """An actor could not start its store: the run proves nothing (inconclusive)."""


@dataclass(frozen=True)
class Scheduled:
    """A failpoint event a mode scheduled for ``actor`` (its store declared ``point``): unless the
    actor reports ``point``, the run did not do what it set out to and earns no pass."""

    actor: str
    point: str
    what: str  # "held", "required hold", "crash", "choice": what was to happen there, for the note

    @property
    def strict(self) -> bool:
        """A crash or a required hold must happen; a plain hold or a choice point may be legitimately
        missed by an operation that ended before it (a compressor that found a writer and skipped
        never reaches its unlink)."""
        return self.what in ("crash", "required hold")


@dataclass
class ActorHandle:
    name: str
    process: Any
    conn: Any
    role: str = ""
    ready: Ready | None = None
    exited: bool = False
    reports: tuple[str, ...] = ()  # the failpoints its store reports to the controller (declared, filtered)


class Run:
    """The processes, home and records of one scenario, campaign or exploration step."""

    def __init__(self, selection: "str | Roles", workdir: str, cold_after: float = 0.0, seed: int = 0,
                 home_mounts=(), placement: Placement | None = None) -> None:
        self.roles = Roles.of(selection)
        self.workdir = workdir
        self.placement = placement or Placement()
        os.makedirs(workdir, exist_ok=True)  # the histories go here, wherever the home is
        # With hosts, the home is a fresh folder of the shared one, made through the controller's path.
        self.home_folder = f"race-{os.path.basename(workdir)}-{uuid.uuid4().hex[:8]}" if self.placement else ""
        self.home = (os.path.join(self.placement.controller.path, self.home_folder) if self.placement
                     else os.path.join(workdir, "home"))
        os.makedirs(os.path.join(self.home, "sessions"), exist_ok=True)
        os.makedirs(os.path.join(self.home, "archived_sessions"), exist_ok=True)
        self.mounts = HomeMounts(self.home, home_mounts)  # per-role paths to the home (issue #25)
        self.gateways = None  # race_harness.gateways.Gateways, once an actor goes to another host
        self.notes: list[str] = [f"hosts: {self.placement.describe()}"] if self.placement else []
        self.cold_after = cold_after
        self.rng = random.Random(seed)
        # Unix socket paths are limited to ~107 bytes: keep them in a short folder of their own.
        self.socket_dir = tempfile.mkdtemp(prefix="rh-", dir="/tmp")
        self.bus: "queue.Queue[object]" = queue.Queue()
        self.controller = Controller(self.socket_dir, self.bus)
        self.actors: dict[str, ActorHandle] = {}
        self.kills: list[dict] = []  # each SIGKILL with its time, for the bundle's timeline
        self.findings: list[Violation] = []  # scenario-specific violations seen while running
        self.scheduled: list[Scheduled] = []  # what the mode set out to make happen (judge.unearned)
        self.crashed = False
        self._pending: list[object] = []
        self._holds: set[tuple[str, str]] = set()
        self._crashes: set[tuple[str, str]] = set()
        self.controller.policy = self._hold_policy
        self.hellos: dict[str, Ready] = {}  # role -> the first hello a store of that role said

    # -- actors --------------------------------------------------------------------------------
    def spawn(self, name: str, failpoints: bool = True, program: Any = None, cold_after: float | None = None,
              failpoint_filter: tuple[str, ...] = (), role: str | None = None) -> ActorHandle:
        """Start actor ``name`` (unique within the run) as ``role`` (default: from its name) and wait
        until its store said hello."""
        if name in self.actors:
            raise ValueError(f"actor {name!r} already exists in this run; names key the history files")
        role = role or role_of_actor(name)
        selection = self.roles.selection(role)
        socket_path = self.controller.socket_for(name) if failpoints and role != HARNESS else None
        cold_after = self.cold_after if cold_after is None else cold_after
        host = self.placement.host_of(role) if self.placement else None
        _stop_if_interrupted()
        if host is not None and host.gateway:
            handle = self._spawn_remote(name, role, host, selection, cold_after, socket_path, failpoint_filter,
                                        program)
        else:
            spec = ActorSpec(name, selection, self.path_for(role), cold_after, self.workdir, socket_path,
                             failpoint_filter, program, host.name if host else "")
            parent, child = _CTX.Pipe()
            process = _CTX.Process(target=actor_main, args=(spec, child), daemon=True, name=f"race-{name}")
            process.start()
            _stop_if_interrupted()  # a signal during the fork can be swallowed by an at-fork hook (logging's)
            child.close()  # so the parent sees EOF the moment the child dies
            handle = ActorHandle(name, process, parent, role)
            self.actors[name] = handle
            threading.Thread(target=self._pump, args=(handle,), daemon=True).start()
        message = self.wait(lambda m: isinstance(m, (Ready, Broken, Exited)) and m.actor == name, READY_TIMEOUT)
        if not isinstance(message, Ready):
            raise ActorFailed(f"actor {name} could not start its {role} store {selection}: "
                              f"{getattr(message, 'error', 'it exited or did not answer')}")
        handle.ready = message
        if socket_path:
            handle.reports = tuple(p for p in message.failpoints if not failpoint_filter or p in failpoint_filter)
        self.hellos.setdefault(role, message)
        return handle

    def path_for(self, role: str) -> str:
        """The path through which ``role``'s actors see the home (on the host they run on)."""
        if self.placement:
            return os.path.join(self.placement.host_of(role).path, self.home_folder)
        return self.mounts.path_for(role)

    def host_of(self, name: str) -> str:
        """The named host actor ``name`` runs on ("" in a run without hosts)."""
        handle = self.actors.get(name)
        return self.placement.host_of(handle.role).name if self.placement and handle else ""

    def _spawn_remote(self, name: str, role: str, host, selection: str | None, cold_after: float,
                      socket_path: str | None, failpoint_filter: tuple[str, ...], program: Any) -> ActorHandle:
        """Start actor ``name`` on another host through its gateway (race_harness/gateways.py)."""
        from race_harness.gateways import GatewayFailed, Gateways

        if program is not None and not hasattr(program, "wire"):
            raise ValueError(f"actor {name}: only a campaign program (race_harness.campaign.CampaignProgram) "
                             "can run on another host; this one is code of this process")
        if self.gateways is None:
            self.gateways = Gateways()
        setup = {"name": name, "selection": selection, "home": self.path_for(role), "cold_after": cold_after,
                 "failpoints": bool(socket_path), "failpoint_filter": list(failpoint_filter),
                 "program": program.wire() if program is not None else None, "host": host.name,
                 "controller_socket": socket_path}
        try:
            actor = self.gateways.start(host, setup, self.workdir, self.bus)
        except GatewayFailed as exc:
            raise ActorFailed(str(exc)) from None
        handle = ActorHandle(name, actor, actor, role)
        self.actors[name] = handle
        return handle

    def _pump(self, handle: ActorHandle) -> None:
        while True:
            try:
                message = handle.conn.recv()
            except (EOFError, OSError):
                self.bus.put(Exited(handle.name))
                return
            self.bus.put(message)

    def _hello_of(self, role: str) -> Ready:
        """The ``role`` store's hello (a hello-only probe actor asks when no actor of that store ran yet)."""
        selection = self.roles.selection(role)
        same = [ready for other, ready in self.hellos.items() if self.roles.selection(other) == selection]
        if not same:
            name = f"probe-{role}"
            self.spawn(name, failpoints=False, role=role)
            self.stop(name)
            same = [self.hellos[role]]
        return same[0]

    def declared(self, role: str) -> tuple[str, ...]:
        """The failpoints the ``role`` store declared."""
        return self._hello_of(role).failpoints

    def capabilities(self, role: str) -> tuple[str, ...]:
        """The capabilities the ``role`` store declared."""
        return self._hello_of(role).capabilities

    def spawn_setup(self) -> None:
        """The actor that creates seed rollouts: one of the writer store, or the harness writing them
        to disk itself when the writer store has no ``create`` (codex starts sessions from a prompt)."""
        if "setup" not in self.actors:
            creates = "writer" in self.capabilities("writer")
            self.spawn("setup", failpoints=False, role=None if creates else HARNESS)

    def failpoints_of(self, name: str) -> tuple[str, ...]:
        """The failpoints actor ``name``'s store declared."""
        ready = self.actors[name].ready
        return ready.failpoints if ready else ()

    def stores(self) -> dict[str, dict]:
        """What each role's store said about itself (for verdicts and bundles)."""
        return {role: {"selection": ready.selection, "store": ready.store, "capabilities": list(ready.capabilities),
                       "failpoints": list(ready.failpoints), "coordination": list(ready.coordination)}
                for role, ready in sorted(self.hellos.items()) if role != HARNESS}

    # -- messages ------------------------------------------------------------------------------
    def wait(self, match: Any, timeout: float) -> object | None:
        """The first bus message satisfying ``match`` (others are kept for later), or None."""
        for index, message in enumerate(self._pending):
            if match(message):
                return self._pending.pop(index)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                message = self.bus.get(timeout=left)
            except queue.Empty:
                return None
            if isinstance(message, Exited) and message.actor in self.actors:
                self.actors[message.actor].exited = True
            if match(message):
                return message
            self._pending.append(message)

    def start(self, name: str, op: Op) -> None:
        self.actors[name].conn.send(op)

    def next_of(self, name: str, timeout: float = 30.0) -> object | None:
        """The next Held, Done or Exited of actor ``name``."""
        return self.wait(lambda m: _actor_of(m) == name, timeout)

    def finish(self, name: str, timeout: float = 60.0, stall: float = 1.0) -> Done | None:
        """Wait for ``name``'s operation to end; if it stalls while others are held, let them go.

        A store may make one actor wait on a lock another actor holds while we keep that other
        actor at a failpoint: releasing it is the only way forward, and it is written down.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.wait(lambda m: isinstance(m, (Done, Exited)) and m.actor == name
                                or isinstance(m, Held) and m.hit.actor == name, stall)
            if isinstance(message, Held):
                self.controller.release(message.hit, note="not a point this step waits for")
                continue
            if message is not None:
                return message if isinstance(message, Done) else None
            held = self.controller.held()
            if held:
                self.notes.append(f"{name} stalled {stall}s while {', '.join(h.actor + '@' + h.point for h in held)} "
                                  "were held: released them")
                self.controller.release_all(f"released because {name} stalled")
        return None

    def call(self, name: str, op: Op, timeout: float = 60.0) -> Done | None:
        """Run one operation on actor ``name`` and return its result (None if it never ended)."""
        self.start(name, op)
        return self.finish(name, timeout)

    # -- holding -------------------------------------------------------------------------------
    def _hold_policy(self, hit: Hit) -> tuple[str, str | None] | None:
        if (hit.actor, hit.point) in self._crashes:
            return CRASH, None
        return None if (hit.actor, hit.point) in self._holds else (CONTINUE, None)

    def crash_at(self, name: str, point: str) -> None:
        """Answer ``crash`` when ``name`` reaches ``point`` (the store SIGKILLs itself there)."""
        self._crashes.add((name, point))
        self.crashed = True
        self.expect(name, (point,), "crash")

    def hold(self, name: str, *points: str, what: str = "held") -> None:
        """Hold ``name`` at each of ``points`` (each one scheduled, see :meth:`expect`)."""
        self._holds.update((name, point) for point in points)
        self.expect(name, points, what)

    def expect(self, name: str, points: tuple[str, ...] | list[str], what: str) -> None:
        """Record that the mode scheduled ``what`` at ``points`` of actor ``name``; those its store
        reports are judged by :func:`race_harness.judge.unearned` (SPEC.md 5.4)."""
        reports = self.actors[name].reports
        self.scheduled.extend(Scheduled(name, p, what) for p in points if p in reports
                              and Scheduled(name, p, what) not in self.scheduled)

    def reached(self) -> set[tuple[str, str]]:
        """(actor, point) of every failpoint hit any actor's store reported in this run."""
        return {(hit.actor, hit.point) for hit in list(self.controller.hits)}

    def unhold(self, name: str | None = None) -> None:
        self._holds = {h for h in self._holds if name is not None and h[0] != name}

    def held_or_done(self, name: str, timeout: float = 30.0) -> object | None:
        """Start-of-window helper: the actor is now held at one of its points, or it finished."""
        return self.wait(lambda m: _actor_of(m) == name and isinstance(m, (Held, Done, Exited)), timeout)

    # -- faults and clock ----------------------------------------------------------------------
    def kill(self, name: str, why: str) -> None:
        """SIGKILL the actor and any helper program it started (a real crash: no cleanup)."""
        handle = self.actors[name]
        pid = handle.process.pid
        if getattr(handle.process, "remote", False):
            handle.process.kill()  # on its host, through that host's gateway
        else:
            for target in [pid, *descendants(pid)]:
                try:
                    os.killpg(target, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    try:
                        os.kill(target, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        handle.process.join(10)
        handle.exited = True
        self.crashed = True
        self.notes.append(f"killed {name} (pid {pid}): {why}")
        self.kills.append({"actor": name, "pid": pid, "time": time.monotonic(), "why": why})

    def age(self, path: str, rollout: str, seconds: float = IDLE_WEEK_AND_MORE) -> Done | None:
        """Back-date a rollout's plain file through the ager actor (recorded in the history)."""
        if "ager" not in self.actors:
            self.spawn("ager")
        return self.call("ager", Op("age", path, rollout, seconds=seconds))

    def age_temps(self) -> None:
        aged = disk.age_temps(self.home)
        if aged:
            self.notes.append(f"clock: back-dated {len(aged)} temp(s) by {disk.STALE_TEMP_AGE / 3600:g} h (owners gone): {', '.join(aged)}")

    def new_rollout(self) -> tuple[str, str]:
        """(uuid, logical path) of a fresh rollout name, from the run's seed."""
        rollout_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        return rollout_id, f"sessions/2025/01/03/rollout-2025-01-03T12-00-00-{rollout_id}.jsonl"

    # -- ending --------------------------------------------------------------------------------
    def stop(self, name: str, timeout: float = 10.0) -> None:
        handle = self.actors[name]
        if handle.exited or not handle.process.is_alive():
            handle.process.join(1)
            return
        try:
            handle.conn.send(Stop())
        except OSError:
            pass
        handle.process.join(timeout)
        if handle.process.is_alive():
            self.notes.append(f"{name} did not stop within {timeout}s: killed")
            self.kill(name, "did not stop")

    def stop_all(self) -> None:
        self.controller.release_all("run ending")
        for name in list(self.actors):
            self.stop(name)

    def recover(self) -> None:
        """The recovery run every fault is followed by: cleanup, then a worker run."""
        self.age_temps()
        name = f"recovery-{sum(n.startswith('recovery-') for n in self.actors) + 1}"
        self.spawn(name, failpoints=False)
        self.call(name, Op("cleanup"))
        self.call(name, Op("run_worker"))
        self.stop(name)

    def operations(self) -> list[Operation]:
        return operations(load_events(self.workdir))

    def close(self) -> None:
        for name, handle in self.actors.items():
            if handle.process.is_alive():
                self.kill(name, "run closed")
        for handle in self.actors.values():
            # A harness that runs many scenarios in one process (the tests, interop, selftest)
            # must not keep two descriptors per finished actor: the pipe and the process sentinel.
            handle.conn.close()
            handle.process.join(10)
            if not handle.process.is_alive():
                handle.process.close()
        if self.gateways is not None:
            self.gateways.close()
        self.controller.close()
        shutil.rmtree(self.socket_dir, ignore_errors=True)
        self.mounts.close()
        if self.placement:
            shutil.rmtree(self.home, ignore_errors=True)  # in the shared folder: the snapshots keep what it held


def _stop_if_interrupted() -> None:
    """No new actor once the run was interrupted: its KeyboardInterrupt may have been lost in an
    ``Exception ignored`` of an at-fork hook, and a new actor would outlive the unwinding run."""
    from conformance.runtime.interrupts import interrupted

    if interrupted():
        raise KeyboardInterrupt


def _actor_of(message: object) -> str | None:
    if isinstance(message, Held):
        return message.hit.actor
    return getattr(message, "actor", None)

