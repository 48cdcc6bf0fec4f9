"""Random campaigns: writers, compressors, readers, listers, archivers and agers racing on one home.

Every operation of a declared capability runs: writers create, append, write through handles and
materialize; compressors compress, run the worker and, now and then, cleanup; readers read and ask
header; listers list, find and search.  Archivers run only when the writer store declared ``lifecycle``: they archive and unarchive rollouts
the writers are writing to and, now and then, delete one and create it again (``writer`` declared
too), so deletes race writes; the checker excuses only lines a delete may have removed.

Contract: each role is an autonomous actor (own process, own store instance, own seeded random
stream) running until the deadline or its share of the operation budget; with ``kills`` the parent
SIGKILLs writers and compressors on a plan drawn from the seed and answers ``crash`` at random
compress/materialize failpoints, restarting each victim under a new name.  The run ends with a
recovery run and the checker; a progress line is drawn on a terminal, a summary is returned.
Each role's actors open the store selected for that role (:class:`~race_harness.roles.Roles`).

Agers: an ager is the harness itself (no store): every 10-50 ms it back-dates one rollout's plain
file by 8 days while writers may hold it open (the idle week, R12), recorded in its history as an
``age`` operation.  Stores configured with cold age 0 see every rollout cold anyway, so an ager
changes little for them; a store whose cold age is fixed (codex: 7 days) compresses nothing without
one.  That is why a campaign has one ager by default.

Window widening: when the store declares failpoints, the campaign's policy answers a seeded random
subset of hits ``continue`` after a random delay of 0..``max_delay_ms`` (half the hits at the
race-window points of :data:`WINDOW_POINTS`, a few elsewhere).  A race window microseconds wide
becomes milliseconds wide, so random campaigns find what otherwise needs luck.  Each delay is a
decision of the schedule (bundles carry it; ``replay`` imposes the recorded delays again).  Each
actor draws its delays from its own stream (seed, actor name), so the draws do not depend on how
the actors' hits interleave.  The verdict's stats say ``time_to_detection_s``: seconds from the
start of the race to the invoke of the earliest operation quoted by any violation's witness (or to
the end of the race when no witness quotes an operation; ``time_to_detection_basis`` says which).

A verdict is earned: a campaign without violations whose writers got no write acknowledged, or whose
compressors never took up a cold rollout during the race (every answer ``skipped_not_cold``, a
failure, or a worker run that did not run), proved nothing and is inconclusive, saying so.  A
compressor that skipped a cold rollout as busy did put the writers' lines at stake, and so may one
whose operation never completed (killed, or still running when the race ended: it may have acted).
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from race_harness.actor import Exited, Op
from conformance.protocol.failpoint_channel import CONTINUE, CRASH, Hit
from race_harness.history import INFO, OK, WRITING_OPS, Operation
from race_harness.home_mounts import ONE_WRITER_MACHINE
from race_harness.hosts import Placement
from race_harness.judge import conclude, fresh_workdir, guarded
from race_harness.roles import Roles
from race_harness.run import IDLE_WEEK_AND_MORE, Run
from race_harness.scenarios import seed
from race_harness.verdict import INCONCLUSIVE, PASSED, Verdict

ARCHIVED = "archived_sessions/"
CRASH_PROBABILITY = 0.02  # per compress/materialize failpoint hit, when kills are on
CLEANUP_PROBABILITY = 0.05  # per compressor round: a cleanup run among the compressions
DELETE_PROBABILITY = 0.15  # per archiver round: delete (and create again) instead of archive + unarchive
#: Failpoints that sit inside a race window of the coordination protocol: a late answer there
#: keeps the window open long enough for the other actors to walk into it.
WINDOW_POINTS = ("compress.after_lock", "compress.before_publish", "compress.before_unlink",
                 "materialize.before_link", "append.after_open", "append.before_write", "create.before_open")
#: Per long-lived session of a writer: it writes to the first rollout, the thread all writers share.
SHARED_THREAD_PROBABILITY = 0.3
WINDOW_DELAY_PROBABILITY = 0.5  # per hit at a window point
OTHER_DELAY_PROBABILITY = 0.05  # per hit anywhere else


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
    agers: int = 1  # harness actors back-dating rollouts past any cold age (see the module docstring)
    rollouts: int = 4
    line_sizes: tuple[int, ...] = (200, 2000)
    big_line: int = 0  # bytes of an occasional multi-MB line (0: none)
    kills: bool = False
    max_delay_ms: float = 30.0  # failpoint answers are delayed 0..this (0: answer at once)
    #: (role, mount name) pairs: that role's actors see the home through their own bindfs mount of
    #: that name (race_harness/home_mounts.py); two names stand for two machines whose locks do not meet.
    home_mounts: tuple[tuple[str, str], ...] = ()
    one_writer_machine: bool = False  # the home declares one writer machine (SPEC.md 5.8)
    #: ``NAME=PATH[@GATEWAY]`` of each host and (role, host name) pairs: that role's actors run on that
    #: host, through its execnet gateway (race_harness/hosts.py); empty: every actor on this machine.
    hosts: tuple[str, ...] = ()
    placement: tuple[tuple[str, str], ...] = ()


def _writer(rng: random.Random, rollouts: list[tuple[str, str]], config: CampaignConfig) -> Callable[[], list[Op]]:
    # Its own stream, seeded from the writer's without drawing from it, so the writer's other draws
    # stay those of earlier campaigns with the same seed.
    shared = random.Random(repr(rng.getstate()[1][:8]))

    def size() -> int:
        return config.big_line if config.big_line and rng.random() < 0.05 else rng.choice(config.line_sizes)

    def next_ops() -> list[Op]:
        roll = rng.random()
        if roll < 0.04:
            # A new session. Writers draw its name from a small pool shared by the campaign, so two
            # of them sometimes create the same rollout at once: exactly one may win (APPEND-006).
            rollout = str(uuid.UUID(int=random.Random(f"{config.seed}:new:{rng.randrange(8)}").getrandbits(128),
                                    version=4))
            return [Op("create", f"sessions/2025/01/04/rollout-2025-01-04T09-00-00-{rollout}.jsonl", rollout,
                       rng.randint(1, 2), size())]
        rollout, path = rng.choice(rollouts)
        if roll < 0.45:
            return [Op("append", path, rollout, rng.randint(1, 3), size())]
        if roll < 0.85:
            # a long-lived session: it keeps its handle through many writes while compressors run;
            # often on the one thread every writer shares, so two writers hold one thread at once and
            # one closes while the other writes (CTL-004)
            if shared.random() < SHARED_THREAD_PROBABILITY:
                rollout, path = rollouts[0]
            writes = [Op("write", path, rollout, 1, size()) for _ in range(rng.randint(1, 12))]
            return [Op("open_writer", path, rollout), *writes, Op("close_writer", path, rollout)]
        return [Op("materialize", path, rollout), Op("append", path, rollout, 1, size())]

    return next_ops


def _compressor(rng: random.Random, rollouts: list[tuple[str, str]], config: CampaignConfig) -> Callable[[], list[Op]]:
    # cleanup (recovery) also runs during the race; drawn from its own stream so the compress and
    # run_worker draws stay those of earlier campaigns with the same seed
    tidy = random.Random(f"{config.seed}:cleanup")

    def next_ops() -> list[Op]:
        if tidy.random() < CLEANUP_PROBABILITY:
            return [Op("cleanup")]
        if rng.random() < 0.25:
            return [Op("run_worker")]
        rollout, path = rng.choice(rollouts)
        return [Op("compress", path, rollout)]

    return next_ops


def _reader(rng: random.Random, rollouts: list[tuple[str, str]], config: CampaignConfig) -> Callable[[], list[Op]]:
    # header too races compressions and materializations: it must work on either representation
    return lambda: [Op("header" if rng.random() < 0.25 else "read", *reversed(rng.choice(rollouts)))]


def _lister(rng: random.Random, rollouts: list[tuple[str, str]], config: CampaignConfig) -> Callable[[], list[Op]]:
    def next_ops() -> list[Op]:
        rollout, _ = rng.choice(rollouts)
        # search runs while compressions and materializations are under way (DISC-006 during transitions)
        return [rng.choice([Op("list"), Op("list", archived=True), Op("find", rollout=rollout),
                            Op("search", rollout=rollout)])]

    return next_ops


class _Archiver:
    """Archive and unarchive a rollout writers are writing to; now and then delete it while they write
    and, when the store can create, start it again under the same path (so the writers go on).

    Each round is a chain: an operation is issued only if the answers before it make it legitimate
    for a correct store.  A refused archive ends the round; a create follows only a delete that
    removed the rollout; a rollout whose unarchive was refused (``conflict`` while a worker is
    between publish and unlink, SPEC.md 5.2) stays archived until a later round unarchives it, and
    nothing touches its active path meanwhile (a create there would make it exist twice).
    """

    def __init__(self, rng: random.Random, rollouts: list[tuple[str, str]], config: CampaignConfig,
                 declared: frozenset[str] = frozenset()) -> None:
        self.rng, self.rollouts, self.config, self.declared = rng, rollouts, config, declared
        self.away: set[str] = set()  # rollouts left archived by a refused unarchive

    def __call__(self) -> list[Op]:
        rollout, path = self.rng.choice(self.rollouts)
        archived = ARCHIVED + os.path.basename(path)
        if rollout in self.away:
            return [Op("unarchive", archived, rollout)]
        if "writer" in self.declared and self.rng.random() < DELETE_PROBABILITY:
            return [Op("delete", path, rollout), Op("create", path, rollout, 1, self.rng.choice(self.config.line_sizes))]
        return [Op("archive", path, rollout), Op("unarchive", archived, rollout)]

    def answered(self, op: Op, status: str, error: str) -> bool:
        """Record an answer; False when the rest of the round is no longer legitimate."""
        if op.kind == "unarchive":
            if status == OK or error.startswith("not_found"):
                self.away.discard(op.rollout)
            else:
                self.away.add(op.rollout)
        return status == OK


def _ager(rng: random.Random, rollouts: list[tuple[str, str]], config: CampaignConfig) -> Callable[[], list[Op]]:
    def next_ops() -> list[Op]:
        time.sleep(rng.uniform(0.01, 0.05))  # an idle week passes for some rollout every few tens of ms
        rollout, path = rng.choice(rollouts)
        if config.archivers and rng.random() < 0.3:
            path = ARCHIVED + os.path.basename(path)
        return [Op("age", path, rollout, seconds=IDLE_WEEK_AND_MORE)]

    return next_ops


ROLES = {"writer": _writer, "compressor": _compressor, "reader": _reader, "lister": _lister, "archiver": _Archiver,
         "ager": _ager}


@dataclass(frozen=True)
class CampaignProgram:
    """What an autonomous actor runs in its child: ops of its role, from the controller's start signal (an
    ``Op("start", seconds=S)``: race S seconds, 0 for no time bound) until then or its budget (``declared``:
    the capabilities of the role's store, for roles whose ops depend on them).  Data, not a closure, so an
    actor on another host runs the same program (:meth:`wire`, :meth:`from_wire`); the start signal
    makes actors that took long to start (on other hosts) race as long as the others."""

    role: str
    actor_seed: int
    rollouts: tuple[tuple[str, str], ...]
    config: CampaignConfig
    budget: int
    declared: frozenset[str] = frozenset()

    def wire(self) -> dict:
        """Plain data an execnet channel carries."""
        return {"factory": f"{__name__}:{type(self).__name__}", "role": self.role, "actor_seed": self.actor_seed,
                "rollouts": [list(r) for r in self.rollouts], "config": asdict(self.config), "budget": self.budget,
                "declared": sorted(self.declared)}

    @classmethod
    def from_wire(cls, data: dict) -> "CampaignProgram":
        config = data["config"]
        config = CampaignConfig(**{**config, "line_sizes": tuple(config["line_sizes"]),
                                   **{key: tuple(tuple(row) for row in config[key]) for key in ("home_mounts", "placement")},
                                   "hosts": tuple(config["hosts"])})
        return cls(data["role"], data["actor_seed"], tuple(tuple(r) for r in data["rollouts"]), config,
                   data["budget"], frozenset(data["declared"]))

    def __call__(self, executor, conn) -> None:
        start = conn.recv()
        if not isinstance(start, Op):
            return  # stopped before the race began
        deadline = time.monotonic() + start.seconds if start.seconds > 0 else float("inf")
        rng = random.Random(self.actor_seed)
        rollouts, config = [tuple(r) for r in self.rollouts], self.config
        make = ROLES[self.role]
        next_ops = make(rng, rollouts, config, self.declared) if make is _Archiver else make(rng, rollouts, config)
        answered = getattr(next_ops, "answered", None)  # a role whose rounds are chains
        done = 0
        while time.monotonic() < deadline and (not self.budget or done < self.budget):
            for op in next_ops():
                if op.kind == "write":
                    # a session idles between lines: long enough for a compressor to find it cold (R2, R12)
                    time.sleep(rng.random() * 0.01)
                result = executor.run(op)
                done += 1
                if op.kind == "open_writer" and result.status != "ok":
                    break  # no handle: the session's writes and close have nothing to act on
                if answered and not answered(op, result.status, result.error or ""):
                    break
            time.sleep(rng.random() * 0.002)  # a little jitter so roles drift against each other


def campaign_policy(config: CampaignConfig, victims: set[str], imposed: list[dict] | None = None
                    ) -> Callable[[Hit], tuple[str, str | None, float]]:
    """Crash victims at random compress/materialize points (kills) and delay a random subset of hits.

    ``imposed`` (a recorded schedule's decisions) makes each actor's n-th hit take the recorded
    delay again when it is at the recorded point; other hits draw from the actor's seeded stream.
    """
    crash_rng = random.Random(config.seed + 1)
    streams: dict[str, random.Random] = {}
    counts: dict[str, int] = {}
    recorded: dict[str, list[tuple[str, float]]] = {}
    for row in imposed or ():
        recorded.setdefault(row["actor"], []).append((row["point"], float(row.get("delay") or 0.0)))
    top = max(0.0, config.max_delay_ms) / 1000.0

    def delay_for(hit: Hit) -> float:
        index = counts[hit.actor] = counts.get(hit.actor, -1) + 1
        rng = streams.setdefault(hit.actor, random.Random(f"{config.seed}:{hit.actor}"))
        chance = WINDOW_DELAY_PROBABILITY if hit.point in WINDOW_POINTS else OTHER_DELAY_PROBABILITY
        drawn = round(rng.uniform(0.0, top), 4) if rng.random() < chance else 0.0
        mine = recorded.get(hit.actor)
        if mine is not None and index < len(mine) and mine[index][0] == hit.point:
            return mine[index][1]
        return drawn

    def policy(hit: Hit) -> tuple[str, str | None, float]:
        delay = delay_for(hit) if top else 0.0
        if (config.kills and hit.actor in victims and hit.point.startswith(("compress.", "materialize."))
                and crash_rng.random() < CRASH_PROBABILITY):
            return CRASH, None, 0.0
        return CONTINUE, None, delay

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


def run_campaign(selection: "str | Roles", config: CampaignConfig, root: str, bundle_dir: str | None = None,
                 show_progress: bool = False, imposed: list[dict] | None = None) -> Verdict:
    """Run one campaign and judge it (``selection``: one store, or one per role; ``imposed``: recorded
    decisions whose delays to take again)."""
    workdir = fresh_workdir(root, f"campaign-{config.seed}")
    roles = Roles.of(selection)
    meta = {"kind": "campaign", "name": f"campaign-seed{config.seed}", **roles.meta(), "seed": config.seed,
            "params": asdict(config), "schedule": {"kill_plan": kill_plan(config)}}

    def body() -> Verdict:
        run = Run(roles, workdir, 0.0, config.seed, config.home_mounts, Placement.of(config.hosts, config.placement))
        if config.one_writer_machine:
            open(os.path.join(run.home, ONE_WRITER_MACHINE), "x").close()
        try:
            rollouts = [seed(run, lines=2) for _ in range(config.rollouts)]  # seed() starts the setup actor
            run.stop("setup")
            started, ended = _race(run, config, rollouts, show_progress, imposed)
            verdict = conclude(run, meta, bundle_dir)
            return _earned(_with_detection_time(verdict, started, ended), run.operations(), config)
        finally:
            run.close()

    return guarded(meta["name"], workdir, body)


def _earned(verdict: Verdict, ops: list[Operation], config: CampaignConfig) -> Verdict:
    """Inconclusive, saying why, when a passed campaign put nothing at stake (see the module docstring)."""
    if verdict.status != PASSED:
        return verdict
    written = sum(op.status == OK and op.op in WRITING_OPS for op in ops if op.proc.startswith("writer"))
    engaged = sum(op.status == INFO or (op.status == OK and _found_cold(op.value))
                  for op in ops if op.proc.startswith("compressor"))
    if (written or not config.writers) and (engaged or not config.compressors):
        return verdict
    why = (f"nothing was at stake: {written} acknowledged write(s), {engaged} compressor operation(s) that took up "
           "a cold rollout during the race (a store that never found a rollout cold, or that refused every operation)")
    return replace(verdict, status=INCONCLUSIVE, notes=verdict.notes + (why,))


def _found_cold(value: object) -> bool:
    """A compress outcome, or a worker report, showing the compressor took up a cold rollout."""
    if isinstance(value, str):
        outcomes = [value]
    elif isinstance(value, dict):
        outcomes = list((value.get("outcomes") or {}).values())
    else:
        return False
    return any(outcome != "skipped_not_cold" for outcome in outcomes)


def _with_detection_time(verdict: Verdict, started: float, ended: float) -> Verdict:
    """Add ``time_to_detection_s`` (and its basis) to a violating verdict's stats."""
    if not verdict.violations:
        return verdict
    starts = [v.start for v in verdict.violations if v.start is not None]
    if starts:
        seconds, basis = max(0.0, min(starts) - started), "earliest witness operation's invoke"
    else:
        seconds, basis = ended - started, "end of the race (no witness operation)"
    stats = dict(verdict.stats, time_to_detection_s=round(seconds, 3), time_to_detection_basis=basis)
    return replace(verdict, stats=stats)


def time_to_detection(selection: "str | Roles", seed: int, seconds: float, **params) -> float | None:
    """Seconds from a random campaign's start to its first violation's earliest witness op, or None.

    Runs one campaign (default roles, ``params`` override any :class:`CampaignConfig` field) in a
    temporary folder, without a bundle or shrinking; None when the campaign found nothing.
    """
    root = tempfile.mkdtemp(prefix="race-ttd-")
    try:
        verdict = run_campaign(selection, CampaignConfig(seconds=seconds, seed=seed, **params), root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return verdict.stats.get("time_to_detection_s") if verdict.violations else None


def _race(run: Run, config: CampaignConfig, rollouts: list[tuple[str, str]], show_progress: bool,
          imposed: list[dict] | None = None) -> tuple[float, float]:
    """Race the roles until the deadline or budget; (start, end) of the race in time.monotonic()."""
    declared = frozenset(run.capabilities("writer"))  # archivers act through the writer store (roles.py)
    archivers = config.archivers if "lifecycle" in declared else 0
    if config.archivers and not archivers:
        run.notes.append(f"no archiver ran: the writer store did not declare lifecycle ({', '.join(sorted(declared))})")
    counts = {"writer": config.writers, "compressor": config.compressors, "reader": config.readers,
              "lister": config.listers, "archiver": archivers, "ager": config.agers}
    roles = [f"{role}-{i}" for role, n in counts.items() for i in range(n)]
    budget = -(-config.ops // len(roles)) if config.ops else 0
    rng = random.Random(config.seed)
    run.controller.policy = campaign_policy(config, {r for r in roles if r.startswith(("writer", "compressor"))},
                                            imposed)
    generation = {role: 0 for role in roles}
    live = {}

    def launch(role: str) -> str:
        name = role if not generation[role] else f"{role}.{generation[role]}"
        kind = role.rsplit("-", 1)[0]
        run.spawn(name, program=CampaignProgram(kind, rng.getrandbits(32), tuple(rollouts), config, budget, declared))
        live[name] = role
        return name

    def go(name: str) -> None:
        try:
            run.start(name, Op("start", seconds=max(0.001, deadline - time.monotonic()) if config.seconds else 0.0))
        except OSError:
            pass  # it died before the start (the loop below sees it gone and restarts it)

    names = [launch(role) for role in roles]
    # Every actor races from here: one on another host may have taken a second to start.
    start = time.monotonic()
    deadline = start + config.seconds if config.seconds else float("inf")
    for name in names:
        go(name)
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
                go(launch(role))
        if message is None and time.monotonic() > deadline + 60:
            for name in list(live):
                run.kill(name, "ran 60 s past the deadline")
        if show_progress and time.monotonic() - last_draw > 0.5:
            last_draw = time.monotonic()
            _draw(run, now, config)
    if show_progress:
        sys.stderr.write("\n")
    return start, time.monotonic()


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
