"""Named scenarios: one per race window R1..R12 and one per crash point of compress/materialize.

Contract: each scenario forces its interleaving through the failpoint controller (hold one actor at
a point, let another act, release), falls back to plain timing when the store declared no
failpoints and the scenario still means something then, and raises :class:`Inconclusive` when it
needs a failpoint that the store of the role reaching it (see :mod:`race_harness.roles`) did not
declare.  Judging (recovery run + checker) is done by the caller, whose guard also turns a held or
crash point that was declared but never reached into an inconclusive verdict.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from conformance.oracle import home_view
from race_harness.actor import Done, Op
from race_harness.catalogue import COMPRESS_POINTS, MATERIALIZE_POINTS
from race_harness.checker import violation
from conformance.protocol.failpoint_channel import CRASH, Held
from race_harness.hosts import Placement
from race_harness.judge import conclude, fresh_workdir, guarded
from race_harness.roles import Roles, role_of_point
from race_harness.run import IDLE_WEEK_AND_MORE, Run
from race_harness.verdict import Verdict
from conformance.api.errors import Inconclusive

WEEK = 7 * 24 * 3600.0


@dataclass(frozen=True)
class Scenario:
    """A forced interleaving; ``needs`` lists failpoints without which it proves nothing."""

    name: str
    window: str
    summary: str
    body: Callable[[Run], None]
    needs: tuple[str, ...] = ()
    cold_after: float = 0.0


def seed(run: Run, lines: int = 2, compressed: bool = False) -> tuple[str, str]:
    """A rollout made through the writer store by a setup actor (its lines are acknowledged history),
    compressed by a setup actor of the compressor store when asked."""
    run.spawn_setup()
    rollout, path = run.new_rollout()
    done = run.call("setup", Op("create", path, rollout, lines))
    if not isinstance(done, Done) or done.status != "ok":
        raise Inconclusive(f"the store could not create a seed rollout: {getattr(done, 'error', 'no answer')}")
    if compressed:
        run.age(path, rollout, 2 * WEEK)  # cold under any threshold a scenario uses
        if "setup-compressor" not in run.actors:
            run.spawn("setup-compressor", failpoints=False, role="compressor")
        done = run.call("setup-compressor", Op("compress", path, rollout))
        if not isinstance(done, Done) or done.value != "compressed":
            raise Inconclusive(f"the store did not compress the seed rollout: {getattr(done, 'value', None)} "
                               f"{getattr(done, 'error', '')}")
    return rollout, path


def window(run: Run, held: str, op: Op, point: str, others: list[tuple[str, Op]]) -> Done | None:
    """Hold ``held`` at ``point`` during ``op``, run ``others`` meanwhile, then release it.

    Without that failpoint the others start right after ``op`` and race it on timing alone.
    """
    if point not in run.failpoints_of(held):
        run.notes.append(f"{point} not declared by {held}'s store: {held} raced the others on timing")
        run.start(held, op)
        for actor, other in others:
            run.call(actor, other)
        return run.finish(held)
    run.hold(held, point)
    since = len(run.controller.schedule)
    run.start(held, op)
    first = run.held_or_done(held)
    if isinstance(first, Held):
        run.notes.append(f"{held} held at {point} while {', '.join(a + ' ' + o.kind for a, o in others)} ran")
    else:
        # The window never opened: noted by the judge's guard, which also makes the run inconclusive
        # when the operation's answer shows it went past the point without reporting it.
        reached = [d.point for d in run.controller.schedule[since:] if d.actor == held]
        run.notes.append(f"{held} ended {op.kind} before {point} (last point reached: "
                         f"{reached[-1] if reached else 'none'}): "
                         f"{getattr(first, 'value', None) or getattr(first, 'error', '')}")
    for actor, other in others:
        run.call(actor, other)
    run.unhold(held)
    if isinstance(first, Held):
        run.controller.release(first.hit, note="window closed")
        return run.finish(held)
    return first if isinstance(first, Done) else None


def idle(run: Run, path: str, rollout: str) -> None:
    """The rollout sat idle past any cold age (a fixed week included) before the compressor looks:
    without it a store that ignores the configured cold age (codex) would find it not cold and the
    window would never open."""
    run.age(path, rollout, IDLE_WEEK_AND_MORE)


def _spawn(run: Run, *names: str) -> None:
    for name in names:
        if name not in run.actors:
            run.spawn(name)


def r1(run: Run) -> None:
    rollout, path = seed(run)
    _spawn(run, "compressor", "writer")
    idle(run, path, rollout)
    window(run, "compressor", Op("compress", path, rollout), "compress.after_encode",
           [("writer", Op("append", path, rollout, 2))])
    run.call("writer", Op("append", path, rollout, 1))


def r2(run: Run) -> None:
    rollout, path = seed(run)
    _spawn(run, "writer", "compressor")
    run.call("writer", Op("open_writer", path, rollout))
    run.call("writer", Op("write", path, rollout))
    idle(run, path, rollout)
    window(run, "compressor", Op("compress", path, rollout), "compress.before_unlink",
           [("writer", Op("write", path, rollout, 2))])
    run.call("writer", Op("write", path, rollout))
    run.call("writer", Op("close_writer", path, rollout))


def r3_torn_tail(run: Run) -> None:
    rollout, path = seed(run)
    _spawn(run, "compressor")
    # The harness plays a writer halfway through a line written with several writes.
    fd = os.open(os.path.join(run.home, path), os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b'{"timestamp":"2025-01-03T12:00:00.000Z","type":"event_msg","payload":{"type":"half')
        run.notes.append("harness wrote half a line (no newline) to the plain file, then asked for compress")
        idle(run, path, rollout)
        run.call("compressor", Op("compress", path, rollout))
        os.write(fd, b'-written"}}\n')
    finally:
        os.close(fd)


def r3_big_lines(run: Run) -> None:
    rollout, path = seed(run)
    _spawn(run, "writer", "compressor")
    for _ in range(3):
        run.start("writer", Op("append", path, rollout, 2, 3 << 20))
        run.call("compressor", Op("compress", path, rollout))
        run.finish("writer")


def r4(run: Run) -> None:
    rollout, path = seed(run)
    _spawn(run, "compressor", "writer")
    idle(run, path, rollout)
    window(run, "compressor", Op("compress", path, rollout), "compress.after_unlink",
           [("writer", Op("append", path, rollout, 2))])


def r5(run: Run) -> None:
    rollout, path = seed(run, compressed=True)
    _spawn(run, "writer", "compressor")
    window(run, "writer", Op("append", path, rollout, 2), "append.after_open",
           [("compressor", Op("compress", path, rollout))])


def r6_materializers(run: Run) -> None:
    rollout, path = seed(run, compressed=True)
    _spawn(run, "writer-a", "writer-b")
    window(run, "writer-a", Op("append", path, rollout, 2), "materialize.before_link",
           [("writer-b", Op("append", path, rollout, 2))])


def r6_writers(run: Run) -> None:
    rollout, path = seed(run)
    _spawn(run, "writer-a", "writer-b")
    for name in ("writer-a", "writer-b"):
        run.call(name, Op("open_writer", path, rollout))
    run.start("writer-a", Op("write", path, rollout, 40, 64 << 10))
    run.call("writer-b", Op("write", path, rollout, 40, 64 << 10))
    run.finish("writer-a")
    for name in ("writer-a", "writer-b"):
        run.call(name, Op("close_writer", path, rollout))


def r7(run: Run) -> None:
    rollout, path = seed(run)
    _spawn(run, "compressor-a", "compressor-b", "writer")
    idle(run, path, rollout)
    window(run, "compressor-a", Op("compress", path, rollout), "compress.after_encode",
           [("compressor-b", Op("compress", path, rollout)), ("writer", Op("open_writer", path, rollout)),
            ("writer", Op("write", path, rollout))])
    run.call("writer", Op("write", path, rollout))
    run.call("writer", Op("close_writer", path, rollout))


def r8(run: Run) -> None:
    rollout, path = seed(run, compressed=True)
    _spawn(run, "writer", "archiver")
    window(run, "writer", Op("append", path, rollout), "materialize.after_link",
           [("archiver", Op("archive", path, rollout))])


def r8_crash(run: Run) -> None:
    rollout, path = seed(run)
    _spawn(run, "compressor", "archiver")
    run.hold("compressor", "compress.after_lock", "compress.before_unlink", what="required hold")
    run.start("compressor", Op("compress", path, rollout))
    locked = run.held_or_done("compressor")
    if not isinstance(locked, Held):
        return  # the judge's guard: a required hold that never happened, the run proves nothing
    # The archiver looks while only plain exists, then queues on the compressor's exclusive lock.
    run.start("archiver", Op("archive", path, rollout))
    early = run.wait(lambda m: isinstance(m, Done) and m.actor == "archiver", 0.5)
    run.controller.release(locked.hit, note="publish while the archiver waits")
    unlinking = run.held_or_done("compressor")
    run.notes.append("archive " + ("ended before the publish" if early else "was waiting on the lock") +
                     "; compressor SIGKILLed between publish and unlink")
    run.crashed = True
    if isinstance(unlinking, Held):
        run.controller.release(unlinking.hit, "crash", note="kill the lock holder mid-transition")
    if early is None:
        run.finish("archiver")


def r9(run: Run) -> None:
    rollout, path = seed(run, compressed=True)
    _spawn(run, "writer", "deleter")
    window(run, "writer", Op("append", path, rollout), "materialize.before_link",
           [("deleter", Op("delete", path, rollout))])


def r10(run: Run) -> None:
    rollout, path = seed(run)
    _spawn(run, "compressor", "cleaner")
    run.hold("compressor", "compress.after_encode", what="required hold")
    run.start("compressor", Op("compress", path, rollout))
    first = run.held_or_done("compressor")
    if not isinstance(first, Held):
        return  # the judge's guard: a required hold that never happened, the run proves nothing
    temps = home_view.scan(run.home).temps
    run.age_temps()
    run.call("cleaner", Op("cleanup"))
    gone = [t for t in temps if not os.path.exists(os.path.join(run.home, t))]
    if gone:
        run.findings.append(violation("live_temp_removed", rollout,
                                      f"cleanup removed {', '.join(gone)} while its compressor was alive and held"))
    run.unhold()
    run.controller.release(first.hit, note="after cleanup")
    run.finish("compressor")


def r11(run: Run) -> None:
    rollout, path = seed(run, lines=3)
    _spawn(run, "compressor", "writer", "reader")
    idle(run, path, rollout)
    # the compressor steps through compress, then the writer's append through materialize
    points = {"compressor": [p for p in COMPRESS_POINTS if p in run.failpoints_of("compressor")],
              "writer": [p for p in MATERIALIZE_POINTS if p in run.failpoints_of("writer")]}
    if not any(points.values()):
        run.notes.append("no transition failpoints declared: reads raced compress on timing")
        run.start("compressor", Op("compress", path, rollout))
        for _ in range(5):
            run.call("reader", Op("read", path, rollout))
        run.finish("compressor")
        return
    for actor, op in (("compressor", Op("compress", path, rollout)), ("writer", Op("append", path, rollout))):
        run.hold(actor, *points[actor])
        run.start(actor, op)
        while True:
            message = run.held_or_done(actor)
            if not isinstance(message, Held):
                break
            run.call("reader", Op("read", path, rollout))
            run.controller.release(message.hit, note="after a read")
        run.unhold()


def r12(run: Run) -> None:
    rollout, path = seed(run)
    _spawn(run, "writer", "compressor")
    run.call("writer", Op("open_writer", path, rollout))
    run.call("writer", Op("write", path, rollout))
    idle(run, path, rollout)
    run.call("compressor", Op("run_worker"))
    run.call("writer", Op("write", path, rollout, 2))
    run.call("writer", Op("close_writer", path, rollout))


def crash(point: str) -> Callable[[Run], None]:
    """SIGKILL the store at ``point`` of compress or materialize, then read and append at once."""

    def body(run: Run) -> None:
        rollout, path = seed(run, lines=3, compressed=point.startswith("materialize"))
        run.spawn("victim", role=role_of_point(point))
        run.crash_at("victim", point)
        op = Op("compress", path, rollout) if point.startswith("compress") else Op("append", path, rollout)
        run.start("victim", op)
        outcome = run.finish("victim", timeout=30)
        if not any(d.actor == "victim" and d.point == point and d.action == CRASH for d in run.controller.schedule):
            # the judge's guard makes this run inconclusive, naming the point
            run.notes.append(f"the victim's {op.kind} ended without reaching {point}: "
                             f"{getattr(outcome, 'value', None) or getattr(outcome, 'error', '')}")
            return
        run.notes.append(f"victim's store was SIGKILLed at {point}")
        # RECOVER-005/006: before any cleanup, reads return everything and appends keep working.
        _spawn(run, "survivor")
        run.call("survivor", Op("read", path, rollout))
        run.call("survivor", Op("append", path, rollout, 2))

    return body


SCENARIOS: dict[str, Scenario] = {s.name: s for s in [
    Scenario("r1-write-between-stats", "R1", "an append lands between the compressor's encode and its re-check", r1),
    Scenario("r2-writer-vs-unlink", "R2", "a long-lived writer writes while the compressor waits before unlink", r2),
    Scenario("r3-torn-tail", "R3", "compress while a line is half written (no newline yet)", r3_torn_tail),
    Scenario("r3-big-lines", "R3", "3 MB lines appended while compress runs", r3_big_lines),
    Scenario("r4-append-after-unlink", "R4", "an append after the compressor unlinked plain", r4),
    Scenario("r5-materialize-mtime", "R5", "compress between materialize and the writer's first write", r5,
             needs=("append.after_open",), cold_after=3600.0),
    Scenario("r6-two-materializers", "R6", "two appenders materialize one rollout at once", r6_materializers),
    Scenario("r6-two-writers", "R6", "two long-lived writers interleave 64 KB lines", r6_writers),
    Scenario("r7-aba", "R7", "a second compress + re-materialize while the first compressor waits", r7),
    Scenario("r8-archive-vs-materialize", "R8", "archive while an append is materializing", r8),
    Scenario("r8-archive-vs-crashed-compress", "R8", "archive waits on a compressor killed between publish and "
             "unlink", r8_crash, needs=("compress.before_unlink",)),
    Scenario("r9-delete-vs-materialize", "R9", "delete while an append is materializing", r9),
    Scenario("r10-cleanup-vs-live-temp", "R10", "cleanup of aged temps while a compressor owns one", r10,
             needs=("compress.after_encode",)),
    Scenario("r11-read-during-transition", "R11", "a read at every step of compress and materialize", r11),
    Scenario("r12-idle-writer", "R12", "a writer idle for 8 days while the worker runs", r12, cold_after=WEEK),
]}
for _point in COMPRESS_POINTS + MATERIALIZE_POINTS:
    SCENARIOS[f"crash-{_point}"] = Scenario(f"crash-{_point}", "crash", f"SIGKILL at {_point}, then recovery",
                                            crash(_point), needs=(_point,))


def missing_failpoints(scenario: Scenario, declared: Callable[[str], tuple[str, ...]]) -> list[str]:
    """``role: point`` for each failpoint ``scenario`` needs that its role's store did not declare."""
    return [f"{role_of_point(p)} store lacks {p}" for p in scenario.needs if p not in declared(role_of_point(p))]


def run_scenario(selection: "str | Roles", name: str, root: str, seed: int = 0,
                 bundle_dir: str | None = None, placement: Placement | None = None) -> Verdict:
    """Run one named scenario in a fresh home and judge it (``selection``: one store, or one per role;
    ``placement``: the hosts its roles' actors run on, race_harness/hosts.py)."""
    scenario = SCENARIOS[name]
    workdir = fresh_workdir(root, name)
    roles = Roles.of(selection)
    placement = placement or Placement()
    meta = {"kind": "scenario", "name": name, **roles.meta(), "seed": seed,
            "params": placement.params() if placement else {}}

    def body() -> Verdict:
        run = Run(roles, workdir, scenario.cold_after, seed, placement=placement)
        try:
            run.spawn_setup()
            missing = missing_failpoints(scenario, run.declared)
            if missing:
                raise Inconclusive(f"{name} needs failpoints the store did not declare: {'; '.join(missing)}")
            scenario.body(run)
            return conclude(run, meta, bundle_dir)
        finally:
            run.close()

    return guarded(name, workdir, body)
