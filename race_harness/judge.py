"""End every run the same way: stop the actors, recover, check the disk, bundle a failure.

Contract: :func:`conclude` turns a finished :class:`Run` into a :class:`Verdict`; when it finds a
violation and a bundle folder was given, the verdict names the repro bundle it wrote.  It is also the
one guard every scheduled mode (scenario, crash point, countdown step, interleaving) passes through:
a run in which a scheduled crash did not happen, or an operation went past a point its store
declared without reporting it, is inconclusive, naming the points (:func:`unearned`), never passed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

from race_harness import bundle
from race_harness.catalogue import went_through
from race_harness.checker import check
from race_harness.history import Operation, RunSummary
from race_harness.run import ActorFailed, Run
from race_harness.verdict import INCONCLUSIVE, PASSED, VIOLATION, Verdict
from conformance.api.errors import Inconclusive


def conclude(run: Run, meta: dict, bundle_dir: str | None, recover: bool = True) -> Verdict:
    """Stop, (recover,) check, and bundle when something was violated."""
    run.stop_all()
    bundle.snapshot(run.home, run.workdir, "snapshot-before")
    if recover:
        run.recover()
    bundle.snapshot(run.home, run.workdir, "snapshot-after")
    ops = run.operations()
    violations = tuple(run.findings) + tuple(check(ops, run.home, after_cleanup=recover, crashed=run.crashed))
    summary = RunSummary.of(ops)
    reached = run.reached()
    missing = unearned(run, ops, reached)
    stats = {"reached": sorted(f"{actor}@{point}" for actor, point in reached),
             "operations": summary.ops, "outcomes": summary.outcomes,
             "decisions": [d.label() for d in run.controller.schedule],
             "roles": run.roles.as_dict(), "stores": run.stores(),
             "actors": {name: handle.role for name, handle in run.actors.items()}}
    roles = () if run.roles.uniform else (f"roles: {run.roles.describe()}",)
    status = VIOLATION if violations else INCONCLUSIVE if missing else PASSED
    unmet = (f"not earned: {'; '.join(missing)} (SPEC.md 5.4: a declared failpoint must be reported where "
             "the catalogue places it)",) if missing else ()
    verdict = Verdict(meta["name"], status, violations, roles + tuple(run.notes) + unmet, run.workdir, stats=stats)
    if violations and bundle_dir:
        schedule = {"decisions": run.controller.schedule_rows(), "notes": run.notes, "kills": run.kills,
                    **meta.get("schedule", {})}
        writer = run.hellos.get("writer")
        actors = {name: {"role": handle.role, "pid": handle.ready.pid if handle.ready else 0,
                         "store": handle.ready.store if handle.ready else "", "host": run.host_of(name)}
                  for name, handle in run.actors.items()}
        meta = dict(meta, status=verdict.status, classes=list(verdict.classes), stores=run.stores(),
                    actors=actors, capabilities=list(writer.capabilities) if writer else [],
                    failpoints=list(writer.failpoints) if writer else [], store=writer.store if writer else "")
        folder = bundle.write_bundle(bundle_dir, run.workdir, meta, schedule, verdict.describe(), verdict.as_dict())
        verdict = Verdict(verdict.name, verdict.status, verdict.violations, verdict.notes, run.workdir, folder, stats)
    return verdict


def unearned(run: Run, ops: list[Operation], reached: set[tuple[str, str]]) -> list[str]:
    """What makes ``run`` prove nothing: each operation whose answer shows it passed points its store
    reports yet did not report (a muted or partial failpoint channel: nothing scheduled there
    happened), and each scheduled crash that never happened.  A hold or choice point an operation
    ended before is no such thing (the store closed the window earlier); it is noted."""
    found = []
    for op in ops:
        handle = run.actors.get(op.proc)
        reports = handle.reports if handle else ()
        silent = [p for p in went_through(op.op, op.status, op.value, len(op.rids))
                  if p in reports and (op.proc, p) not in reached]
        if silent:
            outcome = op.value if op.op == "compress" else op.status  # "compressed", else "ok"
            found.append(f"{op.proc}'s {op.op} ended {outcome} without reporting "
                         f"{', '.join(silent)}")
    for event in run.scheduled:
        if (event.actor, event.point) in reached:
            continue
        if event.strict:
            found.append(f"the scheduled {event.what} at {event.actor}@{event.point} never happened")
        else:
            run.notes.append(f"{event.what} point {event.actor}@{event.point} never reached: the operation "
                             "ended before it")
    return list(dict.fromkeys(found))


def guarded(name: str, workdir: str, body: Callable[[], Verdict]) -> Verdict:
    """Run ``body``; a run that could not prove anything becomes an inconclusive verdict."""
    try:
        return body()
    except (Inconclusive, ActorFailed) as exc:
        return Verdict(name, INCONCLUSIVE, notes=(str(exc),), workdir=workdir)


def fresh_workdir(root: str, name: str) -> str:
    path = os.path.join(root, name.replace("/", "_"))
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path
