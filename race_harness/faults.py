"""Countdown sweeps: fail the N-th failpoint hit of an operation with ENOSPC or EIO, N = 1, 2, ...

Contract: for each N a fresh home gets a seed rollout, one operation runs with the N-th failpoint
hit answered ``error`` (every other hit continues), then the recovery run and the checker prove that
nothing acknowledged was lost; the sweep stops at the first N the operation never reaches (it then
succeeded untouched).  That last, untouched run must have reported every point its answer proves it
passed (the judge's guard: else the sweep skipped them and is inconclusive).  The verdict lists, per
N, where the error landed and how the operation ended.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from race_harness.actor import Op
from conformance.protocol.failpoint_channel import CONTINUE, ERROR, Hit
from race_harness.judge import conclude, fresh_workdir, guarded
from race_harness.roles import Roles
from race_harness.run import Run
from race_harness.scenarios import seed
from race_harness.verdict import INCONCLUSIVE, PASSED, VIOLATION, Verdict
from conformance.api.errors import Inconclusive

ERRNOS = ("ENOSPC", "EIO")


@dataclass(frozen=True)
class Target:
    """The operation a sweep fails, whether its seed rollout starts compressed, and the role
    (whose store) performs it."""

    name: str
    compressed: bool
    ops: Callable[[str, str], list[Op]]
    role: str = "writer"


TARGETS = {t.name: t for t in [
    Target("compress", False, lambda r, p: [Op("compress", p, r)], "compressor"),
    Target("materialize", True, lambda r, p: [Op("materialize", p, r)]),
    Target("append", True, lambda r, p: [Op("append", p, r, 2)]),
    Target("writer", False, lambda r, p: [Op("open_writer", p, r), Op("write", p, r, 2), Op("close_writer", p, r)]),
    Target("run_worker", False, lambda r, p: [Op("run_worker")], "compressor"),
]}


def _countdown(n: int, errno: str, hits: list[Hit]) -> Callable[[Hit], tuple[str, str | None]]:
    def policy(hit: Hit) -> tuple[str, str | None]:
        if hit.actor != "victim":
            return CONTINUE, None
        hits.append(hit)
        return (ERROR, errno) if len(hits) == n else (CONTINUE, None)

    return policy


def sweep_one(selection: "str | Roles", target: Target, errno: str, n: int, root: str,
              bundle_dir: str | None) -> tuple[Verdict, list[Hit]]:
    """One step of the sweep: the N-th hit fails with ``errno``."""
    name = f"countdown-{target.name}-{errno}-{n}"
    workdir = fresh_workdir(root, name)
    hits: list[Hit] = []
    roles = Roles.of(selection)
    meta = {"kind": "countdown", "name": name, **roles.meta(), "seed": 0,
            "params": {"target": target.name, "errno": errno, "n": n}}

    def body() -> Verdict:
        run = Run(roles, workdir)
        try:
            run.spawn_setup()
            if not run.declared(target.role):
                raise Inconclusive(f"a countdown sweep needs failpoints; the {target.role} store "
                                   f"{roles.selection(target.role)} declared none")
            rollout, path = seed(run, lines=3, compressed=target.compressed)
            run.controller.policy = _countdown(n, errno, hits)
            run.spawn("victim", role=target.role)
            for op in target.ops(rollout, path):
                done = run.call("victim", op)
                run.notes.append(f"{op.kind}: {done.status if done else 'no answer'} "
                                 f"{(done.value or done.error) if done else ''}")
                if op.kind == "open_writer" and (done is None or done.status != "ok"):
                    break  # no handle: nothing to write through
            landed = hits[n - 1] if len(hits) >= n else None
            run.notes.append(f"{errno} injected at {landed.point}" if landed else "no error injected (op ran through)")
            run.spawn("reader", failpoints=False)
            run.call("reader", Op("read", path, rollout))  # what a reader sees right after the failure
            return conclude(run, meta, bundle_dir)
        finally:
            run.close()

    return guarded(name, workdir, body), hits


def sweep(selection: "str | Roles", target_name: str, root: str, errnos: tuple[str, ...] = ERRNOS, limit: int = 80,
          bundle_dir: str | None = None, progress: Callable[[str], None] | None = None) -> Verdict:
    """Sweep N upwards for each errno until the operation runs through without an injected error."""
    target = TARGETS[target_name]
    rows, violations, statuses, bundle = [], [], set(), ""
    for errno in errnos:
        for n in range(1, limit + 1):
            verdict, hits = sweep_one(selection, target, errno, n, root, None if bundle else bundle_dir)
            statuses.add(verdict.status)
            row = f"{errno} #{n}: {verdict.status}; " + "; ".join(verdict.notes)
            rows.append(row)
            if progress:
                progress(row)
            if verdict.violations and not violations:
                violations, bundle = list(verdict.violations), verdict.bundle
            if len(hits) < n or verdict.status == INCONCLUSIVE:
                break
    status = VIOLATION if VIOLATION in statuses else INCONCLUSIVE if INCONCLUSIVE in statuses else PASSED
    return Verdict(f"countdown:{target_name}", status, tuple(violations), tuple(rows), root, bundle)
