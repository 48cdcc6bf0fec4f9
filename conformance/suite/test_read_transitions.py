"""READ-004: reads succeed while other processes compress, materialize and create the rollout.

A store's reads run against a loop of real transitions in another process; ``not_found`` is only
correct after the store retried.  Verdicts come from the disk (conformance.oracle.disk), never from
the store's own code.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from conformance.api.errors import Inconclusive, StoreError
from conformance.oracle import disk as oracle
from conformance.suite import kit

# --- READ-004: reads during transitions ---------------------------------------------------------


def _transition_loop(selection: str, home: Path, rel: str, stop: threading.Event, done: list, errors: list):
    """Compress and materialize ``rel`` in a loop from a second store instance (everything cold)."""
    driver = kit.fresh_store(selection, home, 0)
    try:
        while not stop.is_set():
            outcome = driver.compress(rel)
            if outcome == "compressed":
                done.append("compress")
            if driver.materialize(rel):
                done.append("materialize")
    except BaseException as exc:  # reported by the test, not swallowed by the thread
        errors.append(exc)
    finally:
        driver.close()


#: Transitions of each kind the reads must overlap for the test to mean something (R11).
TRANSITIONS = 3
#: How long the transitions may take on a slow or loaded machine before the test gives up, inconclusive.
TRANSITIONS_BOUND_SECONDS = 120.0


def _enough(done: list) -> bool:
    return done.count("compress") >= TRANSITIONS and done.count("materialize") >= TRANSITIONS


def _reads_through_transitions(store, selection, home, r):
    """Read while a second instance compresses and materializes, until the transitions happened:
    the test waits for the events themselves, and a machine too slow to produce them is inconclusive."""
    stop, done, errors, failures = threading.Event(), [], [], []
    reads = 0
    thread = threading.Thread(target=_transition_loop, args=(selection, home, r.rel, stop, done, errors))
    thread.start()
    try:
        deadline = time.monotonic() + TRANSITIONS_BOUND_SECONDS
        while not _enough(done) and time.monotonic() < deadline and thread.is_alive():
            for path in (r.rel, r.zst):
                try:
                    result = store.read(path)
                except StoreError as exc:
                    failures.append(f"read({path}) failed with {exc.kind}: {exc}")
                    continue
                reads += 1
                if result.content != r.data:
                    failures.append(f"read({path}) returned {len(result.content)} bytes from "
                                    f"{result.representation}, not the full content")
            try:
                if store.header(r.rel)["id"] != r.id:
                    failures.append("header returned another rollout's id")
            except StoreError as exc:
                failures.append(f"header failed with {exc.kind}: {exc}")
    finally:
        stop.set()
        thread.join(TRANSITIONS_BOUND_SECONDS)
    assert not errors, f"the transition driver failed: {errors[0]!r}"
    assert not failures, f"{len(failures)} of {reads + len(failures)} reads failed during transitions: {failures[:5]}"
    if not _enough(done):
        # The test only means something if the rollout really moved while it was read.
        raise Inconclusive(f"only {done.count('compress')} compressions and {done.count('materialize')} "
                           f"materializations within {TRANSITIONS_BOUND_SECONDS:g} s (need {TRANSITIONS} of "
                           f"each): too slow to judge, not a failure")
    assert oracle.logical_content(home, r.rel) == r.data


@pytest.mark.req("READ-004")
@pytest.mark.needs("compressor", "writer")
def test_reads_succeed_while_compressed_and_materialized(store, store_selection, home):
    """R11: a second store instance compresses and materializes the rollout in a loop; every read
    (logical and .zst path) and every header read succeeds with the full content."""
    r = kit.make_rollout(home, lines=20, old=True)
    _reads_through_transitions(store, store_selection, home, r)


@pytest.mark.req("READ-004")
@pytest.mark.needs("compressor", "writer")
def test_archived_reads_succeed_while_compressed_and_materialized(store, store_selection, home):
    """R11 in archived_sessions/: the same loop on an archived rollout."""
    r = kit.make_rollout(home, archived=True, lines=20, old=True)
    _reads_through_transitions(store, store_selection, home, r)


@pytest.mark.req("READ-004", "ERR-002")
def test_not_found_only_after_retrying(store, home):
    """A reader looks for the pair at least 3 times, 50 ms apart: not_found takes >= 100 ms."""
    r = kit.make_rollout(home)
    os.unlink(home / r.rel)
    started = time.monotonic()
    assert kit.error_kind(lambda: store.read(r.rel)) == "not_found"
    assert time.monotonic() - started >= 0.1, "read reported not_found without retrying (3 x 50 ms)"


@pytest.mark.req("READ-004")
def test_read_finds_rollout_that_appears_during_retry(store, home):
    """A representation that appears within the retry window (a transition completing) is read.

    The file comes back 30 ms after the read starts; on a loaded machine the timer may fire later
    than the 100 ms the reader must keep looking, which proves nothing either way (inconclusive)."""
    r = kit.make_rollout(home)
    os.rename(home / r.rel, home / (r.rel + ".hidden"))
    back_at: list[float] = []

    def bring_back() -> None:
        os.rename(home / (r.rel + ".hidden"), home / r.rel)
        back_at.append(time.monotonic())

    timer = threading.Timer(0.03, bring_back)
    started = time.monotonic()
    timer.start()
    try:
        result = store.read(r.rel)
    except StoreError as exc:
        timer.join()
        if exc.kind == "not_found" and back_at[0] - started > 0.1:
            raise Inconclusive(f"the file came back {back_at[0] - started:.3f} s after the read started, "
                               "outside the 100 ms a reader must retry: too slow to judge") from None
        raise
    finally:
        timer.join()
    assert result.content == r.data
