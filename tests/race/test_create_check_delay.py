"""The ``create-check`` syscall-delay target: a black-box store's check-then-act ``create`` is caught.

Two store processes under strace, every existence check delayed after it returns, create one name
at once: a ``create`` that checks and then opens without ``O_EXCL`` lets both win (the later one
truncates the earlier's lines); the reference lets exactly one win.
"""

from __future__ import annotations

import shutil
import threading

import pytest

from conformance.api.errors import StoreError
from conformance.oracle import disk as oracle
from conformance.stores.selection import open_store
from conformance.suite import kit
from race_harness.syscall_delay import SyscallDelay, delayed_selection

needs_strace = pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed (.ci/run installs it)")

#: Names raced per store: the window is wide, but a shown race must not hang on one interleaving.
ATTEMPTS = 6


def test_the_target_delays_existence_checks_after_they_return():
    delay = SyscallDelay.parse("create-check:3000")
    assert delay.side == "exit" and "%%stat" in delay.syscalls and delay.microseconds == 3000
    assert "delay_exit=3000" in delayed_selection("reference", delay)


def _race_creates(stores, rel: str, rollout_id: str) -> list[str]:
    """Both stores create ``rel`` at once; each create's outcome (acknowledged, or its error kind)."""
    barrier = threading.Barrier(len(stores))
    outcomes = [""] * len(stores)

    def create(index: int, store) -> None:
        lines = [oracle.session_meta_line(rollout_id).decode().rstrip("\n"), kit.line_text(f"creator-{index}")]
        barrier.wait()
        try:
            store.create(rel, lines)
            outcomes[index] = "acknowledged"
        except StoreError as exc:
            outcomes[index] = exc.kind

    threads = [threading.Thread(target=create, args=(i, s)) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return outcomes


@needs_strace
@pytest.mark.parametrize("selection", ["mutant:create-check-then-act", "reference"])
def test_create_check_target_catches_a_check_then_act_create(tmp_path, selection):
    home = tmp_path / "home"
    (home / "sessions").mkdir(parents=True)
    delayed = delayed_selection(selection, SyscallDelay.parse("create-check:3000"))
    stores = [open_store(delayed) for _ in range(2)]
    both_won = []
    try:
        for store in stores:
            store.configure(str(home), 7 * 86400)
        for _ in range(ATTEMPTS):
            r = kit.unwritten_rollout()
            outcomes = _race_creates(stores, r.rel, r.id)
            assert sorted(outcomes) in (["acknowledged", "acknowledged"], ["acknowledged", "already_exists"]), outcomes
            won = outcomes == ["acknowledged", "acknowledged"]
            both_won.append(won)
            if not won:
                # one create refused: the file holds the winner's lines and nothing of the loser's.
                # When both won, either one truncated the other or both opened before either wrote
                # and their lines interleave: the violation itself, counted below, not asserted here.
                content = oracle.logical_content(home, r.rel)
                assert content.count(b"creator-") == 1, "a refused create left its lines in the winner's rollout"
    finally:
        for store in stores:
            store.close()
    if selection == "reference":
        assert not any(both_won), "two creates of one name were both acknowledged by the reference"
    else:
        assert any(both_won), f"the delayed check never let both creates of one name win in {ATTEMPTS} races"
