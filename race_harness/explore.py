"""Every interleaving of two actors' failpoints (bounded), or a seeded random sample of them.

Contract: both actors are held at every failpoint they reach; whenever both are held, the
explorer chooses which one goes on, so an interleaving is the list of those choices.  Exhaustive
mode enumerates choice lists depth first (each run reveals the later choice points), up to a bound;
random mode draws each choice from the seed.  Every interleaving is listed (actor@point order) and
counted, judged by the checker, and a violating one is bundled with its choice list for ``replay``.
The verdict says how many interleavings it explored of how many the reported points allowed; an
interleaving in which an actor went past a declared point without reporting it is inconclusive (the
judge's guard), and so is the exploration: the interleavings through that point were never run.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from race_harness.actor import Done, Exited, Op
from conformance.protocol.failpoint_channel import Held
from race_harness.judge import conclude, fresh_workdir, guarded
from race_harness.roles import Roles
from race_harness.run import Run
from race_harness.scenarios import seed
from race_harness.verdict import INCONCLUSIVE, PASSED, VIOLATION, Verdict
from conformance.api.errors import Inconclusive

STALL = 0.3  # an actor silent this long is blocked inside the store (on a lock held by the other)
HANG = 20.0  # both silent this long: the store hangs; release everything and note it
UNCONTROLLED = "declared none of the pair's points"

Program = Callable[[str, str], list[Op]]


@dataclass(frozen=True)
class Pair:
    """Two actors and the operations each runs, on one seed rollout."""

    name: str
    summary: str
    compressed: bool
    first: tuple[str, Program]
    second: tuple[str, Program]
    points: tuple[str, ...]  # the failpoints that are choice points (others pass straight through)


@dataclass(frozen=True)
class Step:
    """One released hit: who went on from where; ``chosen`` when the other was waiting too."""

    actor: str
    point: str
    chosen: bool


@dataclass(frozen=True)
class Interleaving:
    choices: tuple[str, ...]
    steps: tuple[Step, ...]
    verdict: Verdict
    diverged: str = ""

    def describe(self) -> str:
        order = " ".join(f"{'*' if s.chosen else ''}{s.actor}@{s.point}" for s in self.steps)
        return f"{self.verdict.status:<12} {order}" + (f"  [diverged: {self.diverged}]" if self.diverged else "")


_COMPRESS = ("compress.after_encode", "compress.after_lock", "compress.before_unlink", "compress.after_unlink")
_APPEND = ("append.after_open", "append.after_lock", "append.before_write")
_MATERIALIZE = ("materialize.after_lock", "materialize.before_link", "materialize.after_link",
                "materialize.before_unlink")

PAIRS = {p.name: p for p in [
    Pair("append-vs-compress", "a short append racing compress", False,
         ("writer", lambda r, p: [Op("append", p, r, 1)]), ("compressor", lambda r, p: [Op("compress", p, r)]),
         _APPEND + _COMPRESS),
    Pair("writer-vs-compress", "a long-lived writer (open, 2 writes, close) racing compress", False,
         ("writer", lambda r, p: [Op("open_writer", p, r), Op("write", p, r), Op("write", p, r),
                                  Op("close_writer", p, r)]),
         ("compressor", lambda r, p: [Op("compress", p, r)]), _APPEND[:2] + ("append.before_write",) + _COMPRESS),
    Pair("append-vs-append", "two appends materializing one compressed rollout", True,
         ("writer-a", lambda r, p: [Op("append", p, r, 1)]), ("writer-b", lambda r, p: [Op("append", p, r, 1)]),
         _MATERIALIZE + ("append.after_lock",)),
    Pair("archive-vs-materialize", "archive racing an append that materializes", True,
         ("writer", lambda r, p: [Op("append", p, r, 1)]), ("archiver", lambda r, p: [Op("archive", p, r)]),
         _MATERIALIZE + ("append.after_lock", "archive.before_rename")),
    Pair("delete-vs-materialize", "delete racing an append that materializes", True,
         ("writer", lambda r, p: [Op("append", p, r, 1)]), ("deleter", lambda r, p: [Op("delete", p, r)]),
         _MATERIALIZE + ("append.after_lock", "delete.before_unlink")),
]}


def interleave(selection: "str | Roles", pair: Pair, workdir: str, choices: tuple[str, ...] = (),
               rng: random.Random | None = None,
               seed_value: int = 0, bundle_dir: str | None = None) -> Interleaving:
    """Run one interleaving: follow ``choices``, then the first actor (or ``rng``) at later choice points."""
    roles = Roles.of(selection)
    meta = {"kind": "exhaustive", "name": pair.name, **roles.meta(), "seed": seed_value,
            "params": {"pair": pair.name}}
    taken: list[str] = []
    steps: list[Step] = []
    diverged: list[str] = []

    def body() -> Verdict:
        run = Run(roles, workdir, 0.0, seed_value)
        try:
            run.spawn_setup()
            names = (pair.first[0], pair.second[0])
            rollout, path = seed(run, compressed=pair.compressed)
            queues = {pair.first[0]: pair.first[1](rollout, path), pair.second[0]: pair.second[1](rollout, path)}
            for name in names:
                run.spawn(name, failpoint_filter=pair.points)
            # each actor is a choice point only at the pair's points its own store declared
            points = {name: tuple(p for p in pair.points if p in run.failpoints_of(name)) for name in names}
            if not any(points.values()):
                raise Inconclusive(f"{pair.name} needs failpoints; the stores declared none of "
                                   f"{', '.join(pair.points)}")
            for name in names:
                run.hold(name, *points[name], what="choice")
                if not points[name]:
                    run.notes.append(f"{name}'s store {UNCONTROLLED}: it is never a choice point")
            _drive(run, names, queues, choices, rng, taken, steps, diverged)
            verdict_meta = dict(meta, params={"pair": pair.name, "choices": list(taken)},
                                schedule={"interleaving": [f"{s.actor}@{s.point}" for s in steps], "choices": taken})
            return conclude(run, verdict_meta, bundle_dir)
        finally:
            run.close()

    verdict = guarded(pair.name, workdir, body)
    return Interleaving(tuple(taken), tuple(steps), verdict, "; ".join(diverged))


def _drive(run: Run, names: tuple[str, str], queues: dict[str, list[Op]], choices: tuple[str, ...],
           rng: random.Random | None, taken: list[str], steps: list[Step], diverged: list[str]) -> None:
    state: dict[str, object] = {}  # actor -> Held message, "running" or "finished"
    for name in names:
        run.start(name, queues[name].pop(0))
        state[name] = "running"
    while any(s != "finished" for s in state.values()):
        _settle(run, state, queues)
        held = [n for n in names if isinstance(state[n], Held)]
        if not held:
            if all(s == "finished" for s in state.values()):
                break
            if not _wait_event(run, state, queues, HANG):
                run.notes.append(f"no actor moved for {HANG}s: released everything")
                run.controller.release_all("hang")
            continue
        if len(held) == 2:
            index = len(taken)
            wanted = choices[index] if index < len(choices) else (rng.choice(names) if rng else names[0])
            if index < len(choices) and wanted not in held:
                diverged.append(f"choice {index}: {wanted} was not waiting")
            pick = wanted if wanted in held else held[0]
            taken.append(pick)
        else:
            pick = held[0]
        hit = state[pick].hit
        steps.append(Step(pick, hit.point, len(held) == 2))
        state[pick] = "running"
        run.controller.release(hit, note="explorer step")


def _settle(run: Run, state: dict[str, object], queues: dict[str, list[Op]]) -> None:
    """Wait until no actor is running, or the running ones stay silent for STALL seconds."""
    while any(s == "running" for s in state.values()):
        if not _wait_event(run, state, queues, STALL):
            return


def _wait_event(run: Run, state: dict[str, object], queues: dict[str, list[Op]], timeout: float) -> bool:
    message = run.wait(lambda m: (isinstance(m, Held) and m.hit.actor in state)
                       or (isinstance(m, (Done, Exited)) and m.actor in state), timeout)
    if message is None:
        return False
    if isinstance(message, Held):
        state[message.hit.actor] = message
    elif isinstance(message, Exited):
        state[message.actor] = "finished"
    elif queues[message.actor]:
        run.start(message.actor, queues[message.actor].pop(0))
        state[message.actor] = "running"
    else:
        state[message.actor] = "finished"
    return True


def explore(selection: "str | Roles", name: str, root: str, limit: int = 200, seconds: float = 0.0, random_runs: int = 0,
            seed_value: int = 0, bundle_dir: str | None = None,
            progress: Callable[[str], None] | None = None) -> tuple[Verdict, list[Interleaving]]:
    """Enumerate (or sample ``random_runs`` of) the pair's interleavings; one verdict for them all."""
    pair = PAIRS[name]
    deadline = time.monotonic() + seconds if seconds else float("inf")
    rng = random.Random(seed_value) if random_runs else None
    done: list[Interleaving] = []
    todo: list[tuple[str, ...]] = [()]
    bundled = False
    while todo and len(done) < (random_runs or limit) and time.monotonic() < deadline:
        prefix = () if rng else todo.pop()
        item = interleave(selection, pair, fresh_workdir(root, f"{name}-{len(done)}"), prefix, rng, seed_value,
                          None if bundled else bundle_dir)
        bundled = bundled or bool(item.verdict.bundle)
        done.append(item)
        if progress:
            progress(f"{len(done)}: {item.describe()}")
        if item.verdict.status == INCONCLUSIVE and not item.steps:
            break
        if not rng:
            # every choice point beyond the forced prefix opens the other branch
            for index in range(len(prefix), len(item.choices)):
                other = next(n for n in (pair.first[0], pair.second[0]) if n != item.choices[index])
                todo.append(item.choices[:index] + (other,))
    statuses = {i.verdict.status for i in done}
    status = VIOLATION if VIOLATION in statuses else INCONCLUSIVE if INCONCLUSIVE in statuses or not done else PASSED
    failing = [i for i in done if i.verdict.violations]
    # The first violating interleaving is the witness; the others are counted, not repeated.
    violations = failing[0].verdict.violations if failing else ()
    complete = not todo or bool(rng)
    bound = "" if complete else "at least "
    possible = "sampled at random" if rng else f"of {bound}{len(done) + len(todo)} possible with the points reported"
    notes = (f"{len(done)} interleaving(s) explored {possible}, {len(failing)} violating"
             f"{'' if complete else f', {len(todo)} left unexplored (bound reached)'}",)
    unearned = next((n for i in done for n in i.verdict.notes if n.startswith("not earned")), "")
    if unearned:
        notes += (unearned,)
    if done:
        notes += tuple(n for n in done[0].verdict.notes if UNCONTROLLED in n)
    if done and done[-1].verdict.status == INCONCLUSIVE and unearned not in done[-1].verdict.notes:
        notes += done[-1].verdict.notes  # why the last interleaving proved nothing
    bundle = next((i.verdict.bundle for i in done if i.verdict.bundle), "")
    stats = {"interleavings": [i.describe() for i in done], "complete": complete,
             "explored": len(done), "possible": None if rng else len(done) + len(todo)}
    return Verdict(f"exhaustive:{name}", status, violations, notes, root, bundle, stats), done
