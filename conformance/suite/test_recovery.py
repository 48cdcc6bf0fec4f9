"""RECOVER: reconciling both representations, and every crash point of compress and materialize.

Crashes are real: the store runs in a child process (kit.failpoint_session) that SIGKILLs itself at
the failpoint; a fresh store instance then reads, appends and cleans up, and the disk is judged by
the oracle.
"""

from __future__ import annotations

import functools
import os
import random
import time
from pathlib import Path

import pytest

import fixtures
from conformance.oracle import disk as oracle
from conformance.protocol.client import CommandStore
from conformance.api.errors import Inconclusive
from conformance.machine.state_machine import profile_name
from conformance.suite import kit
from conformance.api.errors import StoreError



def _pairs(case) -> dict[str, str]:
    return case.expected["recovery"]


def _stale_pair(home: Path, archived: bool = False, minute: int = 0) -> tuple[kit.Rollout, bytes]:
    """plain = whole .zst content + appended lines (crash between publish and unlink, then appends)."""
    r = kit.make_rollout(home, old=True, compressed=True, archived=archived, lines=2, minute=minute)
    full = r.data + oracle.user_message_line("appended after the crash 1") + oracle.user_message_line("and 2")
    oracle.write_plain(home, r.rel, full, 0o600)
    return r, full


@pytest.mark.zones
@pytest.mark.req("RECOVER-001")
def test_equal_pair_is_finished_by_cleanup(store, home):
    """Both equal (crash after publish): cleanup removes the plain file and reports the path."""
    case = fixtures.install("both_equal", home)
    rels = [rel for rel, verdict in _pairs(case).items() if verdict == "finish"]
    assert rels
    contents = {rel: (home / rel).read_bytes() for rel in rels}
    report = store.cleanup()
    for rel in rels:
        assert rel in report.reconciled
        assert rel not in report.conflicts
        assert oracle.representations(home, rel) == (rel + ".zst",)
        assert oracle.decode_zst(home / (rel + ".zst")) == contents[rel]


@pytest.mark.zones
@pytest.mark.req("RECOVER-001")
def test_equal_pair_is_finished_at_the_start_of_a_run(store, home):
    """The same reconciliation happens at the start of every worker run (cold rule irrelevant)."""
    r = kit.make_rollout(home, old=True, compressed=True, lines=3)
    oracle.write_plain(home, r.rel, r.data, 0o600)  # fresh plain: the run itself would not compress it
    report = store.run_worker()
    assert report.ran
    assert r.rel in report.reconciled
    assert oracle.representations(home, r.rel) == (r.zst,)
    assert oracle.decode_zst(home / r.zst) == r.data


@pytest.mark.zones
@pytest.mark.req("RECOVER-002")
def test_stale_sibling_reconcile_by_cleanup(store, home):
    """Stale sibling reconcile: plain extends the .zst -> the .zst goes, plain kept byte for byte."""
    case = fixtures.install("both_stale_zst", home)
    rels = [rel for rel, verdict in _pairs(case).items() if verdict == "stale_zst"]
    assert rels
    before = {rel: oracle.file_state(home / rel) for rel in rels}
    report = store.cleanup()
    for rel in rels:
        assert rel in report.reconciled
        assert oracle.representations(home, rel) == (rel,)
        assert oracle.file_state(home / rel) == before[rel]


@pytest.mark.req("RECOVER-002")
@pytest.mark.parametrize("archived", [False, True])
def test_stale_sibling_reconcile_at_the_start_of_a_run(store, home, archived):
    """A run removes the stale .zst first; the plain file (fresh) is kept byte for byte."""
    r, full = _stale_pair(home, archived=archived)
    before = oracle.file_state(home / r.rel)
    report = store.run_worker()
    assert report.ran
    assert r.rel in report.reconciled
    assert oracle.representations(home, r.rel) == (r.rel,)
    assert oracle.file_state(home / r.rel) == before
    assert store.read(r.rel).content == full


@pytest.mark.req("RECOVER-003")
@pytest.mark.parametrize("kind", ["diverged", "corrupt"])
def test_diverged_pair_is_a_conflict(store, home, kind):
    """Diverged contents (or a .zst that does not decode) keep both byte for byte; cleanup reports a
    conflict; reads select plain; the worker removes neither and compress is skipped_already_compressed."""
    if kind == "diverged":
        case = fixtures.install("both_diverged", home)
        rel = next(rel for rel, v in _pairs(case).items() if v == "conflict")
    else:
        r = kit.make_rollout(home, old=True, compressed=True)
        raw = bytearray((home / r.zst).read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        oracle.write_plain(home, r.zst, bytes(raw), 0o600, time.time_ns() - 8 * kit.DAY_NS)
        oracle.write_plain(home, r.rel, r.data, 0o600, time.time_ns() - 8 * kit.DAY_NS)
        rel = r.rel
    before = {k: v for k, v in oracle.snapshot(home).items() if k in (rel, rel + ".zst")}
    assert len(before) == 2
    report = store.cleanup()
    assert rel in report.conflicts
    assert rel not in report.reconciled
    assert store.read(rel).content == (home / rel).read_bytes()
    assert store.read(rel).representation == "plain"
    store.configure(str(home), 0)
    run = store.run_worker()
    assert run.ran and rel not in run.reconciled
    assert store.compress(rel) == "skipped_already_compressed"
    after = {k: v for k, v in oracle.snapshot(home).items() if k in (rel, rel + ".zst")}
    assert after == before, "a diverged pair must stay byte for byte"


@pytest.mark.req("RECOVER-004")
@pytest.mark.parametrize("locked", ["plain", "zst"])
def test_locked_pair_is_left_for_later(store, home, locked):
    """A pair with a lock held on either representation is not touched; a later cleanup reconciles it."""
    r = kit.make_rollout(home, old=True, compressed=True)
    oracle.write_plain(home, r.rel, r.data, 0o600)
    before = oracle.snapshot(home)
    with kit.holding_lock(home / (r.rel if locked == "plain" else r.zst)):
        report = store.cleanup()
        assert r.rel not in report.reconciled
        assert oracle.snapshot(home) == before, "recovery touched a pair a live process holds"
        run = store.run_worker()
        assert r.rel not in run.reconciled
        assert {k: v for k, v in oracle.snapshot(home).items() if not k.startswith(".tmp/")} == before
    report = store.cleanup()
    assert r.rel in report.reconciled
    assert oracle.representations(home, r.rel) == (r.zst,)


@pytest.mark.req("RECOVER-007", "RECOVER-002")
@pytest.mark.parametrize("op", [pytest.param(op, marks=[pytest.mark.needs(need)] if need else [], id=op) for op, need in (
    ("cleanup", None), ("run_worker", None), ("materialize", "writer"), ("archive", "lifecycle"),
    ("delete", "lifecycle"), ("append", "writer"), ("read", "reader"))])
def test_stale_zst_never_comes_back(store, home, op):
    """After appends to the plain file of a crashed-after-publish pair, no operation lets the stale
    .zst content be what read returns."""
    r, full = _stale_pair(home)
    store.configure(str(home), 0)
    extra = kit.line_text("extra-line")
    expected = full
    target = r.rel
    try:
        if op == "cleanup":
            store.cleanup()
        elif op == "run_worker":
            store.run_worker()
        elif op == "materialize":
            assert store.materialize(r.rel) is False, "materialize decoded a .zst although plain exists"
        elif op == "archive":
            target = store.archive(r.rel)
        elif op == "delete":
            store.delete(r.rel)
            expected = None
        elif op == "append":
            store.append(r.rel, [extra])
            expected = full + extra.encode() + b"\n"
        else:
            assert store.read(r.zst).content == full
    except StoreError as exc:
        assert op == "archive" and exc.kind == "conflict", f"{op}: {exc.kind}: {exc}"
        target = r.rel
    # Whatever happened, a later cleanup and run must not resurrect the stale content.
    store.cleanup()
    store.run_worker()
    if expected is None:
        for path in (r.rel, oracle.archived_path(Path(r.rel).name)):
            assert oracle.representations(home, path) == ()
            with pytest.raises(StoreError) as err:
                store.read(path)
            assert err.value.kind == "not_found"
        return
    assert oracle.logical_content(home, target) == expected, "the stale .zst came back"
    assert store.read(target).content == expected


def _fresh_home(root: Path, name: str) -> Path:
    home = root / name
    (home / "sessions").mkdir(parents=True)
    (home / "archived_sessions").mkdir()
    return home


def _check_after_crash(s, home: Path, r: kit.Rollout, point: str) -> None:
    s.configure(os.fspath(home), 7 * 86400)
    assert s.read(r.rel).content == r.data, f"{point}: read after the crash lost content"
    line = kit.line_text(f"after-crash-{point}")
    s.append(r.rel, [line])
    full = r.data + line.encode() + b"\n"
    assert s.read(r.rel).content == full, f"{point}: the appended line is not there exactly once"
    oracle.age_temps(home)
    s.cleanup()
    found = oracle.representations(home, r.rel)
    assert len(found) == 1, f"{point}: after cleanup the rollout has {found}"
    assert oracle.logical_content(home, r.rel) == full, f"{point}: content after cleanup"
    assert oracle.temps(home) == [], f"{point}: temps left {oracle.temps(home)}"
    assert s.read(r.rel).content == full


SHARDS = 3  # the crash points are spread over this many tests so that -n spreads them over cores


def _crash_each(store_selection, home: Path, prefix: str, shard: int, compressed: bool, operation) -> None:
    checker = kit.fresh_store(store_selection, home)
    try:
        points = [p for p in checker.hello().failpoints if p.startswith(prefix)]
        if not points:
            raise Inconclusive(f"the store declares the failpoints capability but no point named {prefix}*")
        for i, point in enumerate(points[shard::SHARDS]):
            h = _fresh_home(home.parent, f"{prefix}{i}")
            r = kit.make_rollout(h, old=True, compressed=compressed, lines=3)
            with kit.failpoint_session(store_selection, h, cold_after=0) as session:
                session.answer(point, "crash")
                try:
                    operation(session.store, r.rel)
                except Inconclusive:
                    pass  # the store killed itself at the point, as scheduled
                session.require(point, "crash")
            _check_after_crash(checker, h, r, point)
    finally:
        checker.close()


@pytest.mark.req("RECOVER-005", "RECOVER-007", "RECOVER-001", "COMP-014")
@pytest.mark.needs("failpoints")
@pytest.mark.parametrize("shard", range(SHARDS))
def test_every_compress_crash_point(store_selection, home, shard):
    """Every crash point of compress: SIGKILL at each compress.* failpoint; read keeps the full content,
    appends work, one cleanup (temps aged 7 h) leaves one representation with everything and no temp."""
    _crash_each(store_selection, home, "compress.", shard, False, lambda s, rel: s.compress(rel))


@pytest.mark.req("RECOVER-006", "RECOVER-001", "RECOVER-002", "COMP-014")
@pytest.mark.needs("failpoints")
@pytest.mark.parametrize("shard", range(SHARDS))
def test_every_materialize_crash_point(store_selection, home, shard):
    """Every crash point of materialize: SIGKILL at each materialize.* failpoint; read keeps the full
    content, an append lands exactly once, one cleanup leaves one representation and no temp."""
    _crash_each(store_selection, home, "materialize.", shard, True, lambda s, rel: s.materialize(rel))


# --- kills at arbitrary instants (no failpoints needed) --------------------------------------------

# Kills per test by profile (the state machine's): each needs a fresh 20 MB rollout. The first kill of
# every test lands when the store's output is seen half written (the instant a store writing in place
# cannot survive, found without failpoints by watching the rollout's folder); the others at seeded
# random instants. The default run takes two kills, the nightly profile ten, smoke only the first.
KILL_INSTANTS = {"smoke": 1, "nightly": 10}.get(profile_name(), 2)
BIG_LINES = 80_000  # ~20 MB: long enough that a kill lands inside the encode or the decode
OUTPUT_POLL_SECONDS = 0.0005


@functools.lru_cache(maxsize=2)
def _big_body(seed: int) -> bytes:
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "tool", "output", "diff", "patch", "model", "turn"]
    phrases = [" ".join(rng.choice(words) for _ in range(30)) for _ in range(512)]
    line = '{"timestamp":"2025-01-03T12:00:01.000Z","type":"event_msg","payload":{"type":"user_message","message":"%s %d"}}\n'
    return oracle.session_meta_line("00000000-0000-4000-8000-00000000beef") + "".join(
        line % (phrases[rng.randrange(512)], n) for n in range(BIG_LINES)).encode()


def _big_rollout(home: Path, seed: int, compressed: bool) -> kit.Rollout:
    return kit.make_rollout(home, old=True, compressed=compressed, data=_big_body(seed))


def _output_started(folder: Path, source: str) -> bool:
    """Some file other than the op's source holds bytes: the store is writing its output."""
    try:
        with os.scandir(folder) as entries:
            return any(e.name != source and e.is_file(follow_symlinks=False)
                       and e.stat(follow_symlinks=False).st_size > 0 for e in entries)
    except FileNotFoundError:
        return False


def _kill_during(store_selection: str, home: Path, r: kit.Rollout, op: str, after_s: float | None) -> bool:
    """Run ``op`` in a served store and SIGKILL it ``after_s`` in, or (None) as soon as its output is seen
    with bytes in it; True when the kill landed while ``op`` was still running."""
    victim = CommandStore(kit.serve_command(store_selection))
    try:
        victim.configure(str(home), 0)
        thread, box = kit.in_thread(getattr(victim, op), r.rel)
        if after_s is None:
            source = Path(r.zst if op == "materialize" else r.rel).name
            folder = (home / r.rel).parent
            while thread.is_alive() and not _output_started(folder, source):
                time.sleep(OUTPUT_POLL_SECONDS)
        else:
            thread.join(after_s)
        inside = thread.is_alive()
        kit.kill_store(victim)
        thread.join(30)
        return inside
    finally:
        victim.close()


def _kill_at_random_instants(store_selection: str, root: Path, seed: int, op: str) -> None:
    rng = random.Random(seed)
    compressed = op == "materialize"
    timing_home = _fresh_home(root, f"{op}-timing")
    r = _big_rollout(timing_home, seed, compressed)
    timer = CommandStore(kit.serve_command(store_selection))  # timed the way the victims run
    try:
        timer.configure(str(timing_home), 0)
        started = time.monotonic()
        getattr(timer, op)(r.rel)
        duration = time.monotonic() - started
    finally:
        timer.close()
    instants, landed = [], 0
    for i in range(KILL_INSTANTS):
        # The first half: where the output is being written (encode, decode), the instants a store
        # that writes in place cannot survive; later instants are the named crash points' business.
        after = None if i == 0 else rng.uniform(0.02, 0.5) * duration
        for attempt in range(4):  # a loaded machine runs faster or slower than the timing run
            home = _fresh_home(root, f"{op}-kill-{i}-{attempt}")
            r = _big_rollout(home, seed, compressed)
            when = "once its output had bytes" if after is None else f"{after:.3f} s in"
            instants.append(when)
            inside = _kill_during(store_selection, home, r, op, after)
            checker = kit.fresh_store(store_selection, home)
            try:
                _check_after_crash(checker, home, r, f"{op} killed {when} (seed {seed})")
            finally:
                checker.close()
            if inside:
                landed += 1
                break
            if after is not None:
                after /= 3  # it had finished: aim earlier
    if not landed:
        raise Inconclusive(f"no kill landed inside {op} (it took {duration:.3f} s; kills: {instants}): "
                           "nothing was shown; rerun on a quieter machine")


@pytest.mark.req("RECOVER-005")
@pytest.mark.needs("writer")
def test_compress_killed_at_random_instants_loses_nothing(store_selection, home, suite_seed):
    """SIGKILL at seeded random instants inside compress (mid-encode, mid-verify, ...): reads see every
    line, appends work, one cleanup leaves one representation and no temp. No failpoint needed."""
    _kill_at_random_instants(store_selection, home.parent, suite_seed, "compress")


@pytest.mark.req("RECOVER-006")
@pytest.mark.needs("compressor")
def test_materialize_killed_at_random_instants_loses_nothing(store_selection, home, suite_seed):
    """SIGKILL at seeded random instants inside materialize (mid-decode, ...): the same recovery."""
    _kill_at_random_instants(store_selection, home.parent, suite_seed, "materialize")
