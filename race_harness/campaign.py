"""Random campaigns: writers, compressors, readers, listers and archivers racing on one home.

Contract: each role is an autonomous actor (own process, own store instance, own seeded random
stream) running until the deadline or its share of the operation budget; with ``kills`` the parent
SIGKILLs writers and compressors on a plan drawn from the seed and answers ``crash`` at random
compress/materialize failpoints, restarting each victim under a new name.  The run ends with a
recovery run and the checker; a progress line is drawn on a terminal, a summary is returned.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from .actor import Exited, Op
from .controller import CONTINUE, CRASH, Hit
from .judge import conclude, fresh_workdir, guarded
from .run import Run
from .scenarios import seed
from .verdict import Verdict

ARCHIVED = "archived_sessions/"
CRASH_PROBABILITY = 0.02  # per compress/materialize failpoint hit, when kills are on


@dataclass(frozen=True)
class CampaignConfig:
    """The bounds and shape of one campaign (all of it goes into the bundle)."""

    seconds: float = 10.0
    ops: int = 0  # total operation budget over all actors; 0 = bounded by seconds only
    seed: int = 0
    writers: int = 2
    compressors: int = 1
    readers: int = 1
    listers: int = 1
    archivers: int = 0
    rollouts: int = 4
    line_sizes: tuple[int, ...] = (200, 2000)
    big_line: int = 0  # bytes of an occasional multi-MB line (0: none)
    kills: bool = False


def _writer(rng: random.Random, rollouts: list[tuple[str, str]], config: CampaignConfig) -> Callable[[], list[Op]]:
    def size() -> int:
        return config.big_line if config.big_line and rng.random() < 0.05 else rng.choice(config.line_sizes)

    def next_ops() -> list[Op]:
        rollout, path = rng.choice(rollouts)
        roll = rng.random()
        if roll < 0.5:
            return [Op("append", path, rollout, rng.randint(1, 3), size())]
        if roll < 0.85:
            writes = [Op("write", path, rollout, 1, size()) for _ in range(rng.randint(1, 5))]
            return [Op("open_writer", path, rollout), *writes, Op("close_writer", path, rollout)]
        return [Op("materialize", path, rollout), Op("append", path, rollout, 1, size())]

    return next_ops


def _compressor(rng: random.Random, rollouts: list[tuple[str, str]], config: CampaignConfig) -> Callable[[], list[Op]]:
    def next_ops() -> list[Op]:
        if rng.random() < 0.25:
            return [Op("run_worker")]
        rollout, path = rng.choice(rollouts)
        return [Op("compress", path, rollout)]

    return next_ops


def _reader(rng: random.Random, rollouts: list[tuple[str, str]], config: CampaignConfig) -> Callable[[], list[Op]]:
    return lambda: [Op("read", *reversed(rng.choice(rollouts)))]


def _lister(rng: random.Random, rollouts: list[tuple[str, str]], config: CampaignConfig) -> Callable[[], list[Op]]:
    def next_ops() -> list[Op]:
        rollout, _ = rng.choice(rollouts)
        return [rng.choice([Op("list"), Op("list", archived=True), Op("find", rollout=rollout)])]

    return next_ops


def _archiver(rng: random.Random, rollouts: list[tuple[str, str]], config: CampaignConfig) -> Callable[[], list[Op]]:
    def next_ops() -> list[Op]:
        rollout, path = rng.choice(rollouts)
        return [Op("archive", path, rollout), Op("unarchive", ARCHIVED + os.path.basename(path), rollout)]

    return next_ops


ROLES = {"writer": _writer, "compressor": _compressor, "reader": _reader, "lister": _lister, "archiver": _archiver}


def program(role: str, actor_seed: int, rollouts: list[tuple[str, str]], config: CampaignConfig, deadline: float,
            budget: int) -> Callable:
    """What an autonomous actor runs in its child: ops of its role until deadline or budget."""

    def body(executor, conn) -> None:
        rng = random.Random(actor_seed)
        next_ops = ROLES[role](rng, rollouts, config)
        done = 0
        while time.monotonic() < deadline and (not budget or done < budget):
            for op in next_ops():
                if op.kind == "write":
                    # a session idles between lines: long enough for a compressor to find it cold (R2, R12)
                    time.sleep(rng.random() * 0.01)
                result = executor.run(op)
                done += 1
                if op.kind == "open_writer" and result.status != "ok":
                    break  # no handle: the session's writes and close have nothing to act on
            time.sleep(rng.random() * 0.002)  # a little jitter so roles drift against each other

    return body


def _crash_policy(rng: random.Random, victims: set[str]) -> Callable[[Hit], tuple[str, str | None]]:
    def policy(hit: Hit) -> tuple[str, str | None]:
        if hit.actor in victims and hit.point.startswith(("compress.", "materialize.")) and rng.random() < CRASH_PROBABILITY:
            return CRASH, None
        return CONTINUE, None

    return policy


def kill_plan(config: CampaignConfig) -> list[tuple[float, str]]:
    """(seconds into the run, role index) of each SIGKILL, drawn from the seed so replay repeats it."""
    rng = random.Random(config.seed * 7919 + 1)
    victims = [f"writer-{i}" for i in range(config.writers)] + [f"compressor-{i}" for i in range(config.compressors)]
    plan, at = [], 0.0
    while victims and config.kills:
        at += rng.uniform(0.2, 1.0)
        if at >= config.seconds * 0.9:
            break
        plan.append((round(at, 3), rng.choice(victims)))
    return plan


def run_campaign(selection: str, config: CampaignConfig, root: str, bundle_dir: str | None = None,
                 show_progress: bool = False) -> Verdict:
    """Run one campaign and judge it."""
    workdir = fresh_workdir(root, f"campaign-{config.seed}")
    meta = {"kind": "campaign", "name": f"campaign-seed{config.seed}", "selection": selection, "seed": config.seed,
            "params": asdict(config), "schedule": {"kill_plan": kill_plan(config)}}

    def body() -> Verdict:
        run = Run(selection, workdir, 0.0, config.seed)
        try:
            run.spawn("setup", failpoints=False)
            rollouts = [seed(run, lines=2) for _ in range(config.rollouts)]
            run.stop("setup")
            _race(run, config, rollouts, show_progress)
            return conclude(run, meta, bundle_dir)
        finally:
            run.close()

    return guarded(meta["name"], workdir, body)


def _race(run: Run, config: CampaignConfig, rollouts: list[tuple[str, str]], show_progress: bool) -> None:
    counts = {"writer": config.writers, "compressor": config.compressors, "reader": config.readers,
              "lister": config.listers, "archiver": config.archivers}
    roles = [f"{role}-{i}" for role, n in counts.items() for i in range(n)]
    budget = -(-config.ops // len(roles)) if config.ops else 0
    start = time.monotonic()
    deadline = start + config.seconds if config.seconds else float("inf")
    rng = random.Random(config.seed)
    if config.kills:
        run.controller.policy = _crash_policy(random.Random(config.seed + 1),
                                              {r for r in roles if r.startswith(("writer", "compressor"))})
    generation = {role: 0 for role in roles}
    live = {}

    def launch(role: str) -> None:
        name = role if not generation[role] else f"{role}.{generation[role]}"
        kind = role.rsplit("-", 1)[0]
        run.spawn(name, program=program(kind, rng.getrandbits(32), rollouts, config, deadline, budget))
        live[name] = role

    for role in roles:
        launch(role)
    plan = kill_plan(config)
    last_draw = 0.0
    while live:
        now = time.monotonic() - start
        while plan and plan[0][0] <= now:
            _, role = plan.pop(0)
            victim = next((n for n, r in live.items() if r == role), None)
            if victim and time.monotonic() < deadline:
                run.kill(victim, f"kill plan at {now:.2f}s")
        message = run.wait(lambda m: isinstance(m, Exited) and m.actor in live, 0.1)
        for name in [n for n in live if run.actors[n].exited or not run.actors[n].process.is_alive()]:
            role = live.pop(name)
            run.actors[name].process.join(1)
            if run.actors[name].process.exitcode not in (0, None) and time.monotonic() < deadline - 0.2:
                generation[role] += 1
                run.crashed = True
                launch(role)
        if message is None and time.monotonic() > deadline + 60:
            for name in list(live):
                run.kill(name, "ran 60 s past the deadline")
        if show_progress and time.monotonic() - last_draw > 0.5:
            last_draw = time.monotonic()
            _draw(run, now, config)
    if show_progress:
        sys.stderr.write("\n")


def _draw(run: Run, elapsed: float, config: CampaignConfig) -> None:
    """One progress line, rewritten in place: time, operations recorded, restarts, crash answers."""
    events = 0
    for name in run.actors:
        try:
            with open(os.path.join(run.workdir, f"history-{name}.jsonl"), "rb") as handle:
                events += handle.read().count(b"\n")
        except FileNotFoundError:
            pass
    crashes = sum(1 for d in run.controller.schedule if d.action == CRASH)
    kills = sum(1 for note in run.notes if note.startswith("killed"))
    bound = f"/{config.seconds:.0f}s" if config.seconds else ""
    sys.stderr.write(f"\r  {elapsed:5.1f}s{bound}  ops {events // 2:>7}  actors {len(run.actors):>3}  "
                     f"kills {kills}  crash-points {crashes}   ")
    sys.stderr.flush()
