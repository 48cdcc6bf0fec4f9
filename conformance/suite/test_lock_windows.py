"""Lock windows swept point by point: every lock-holding requirement is checked at every failpoint of
the catalogue (SPEC.md 5.4) between the step that takes the lock and the step it exists to protect,
not at one of them.  A store that holds the lock at one point and lets go one step later fails here.

Each case names the requirement, the operation, the points of its window and what must be held
there, observed from this process with non-blocking flocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from conformance.suite import kit


@dataclass(frozen=True)
class Window:
    requirement: str
    op: str  # append | materialize | compress
    points: tuple[str, ...]
    held: str  # what must be locked: plain | zst | thread | coordination
    scheme: str  # the coordination scheme the requirement belongs to ("" = outcome)


WINDOWS = (
    # COORD-001: the appender's LOCK_SH from its identity check to after its last write.
    Window("COORD-001", "append", ("append.after_lock", "append.before_write", "append.after_write"),
           "plain", "inode-flock"),
    # COORD-006 (and 003): the compressor's LOCK_EX from its claim until the plain file is unlinked.
    Window("COORD-006", "compress", ("compress.after_lock", "compress.before_publish", "compress.after_publish",
                                     "compress.before_unlink"), "plain", "inode-flock"),
    # COORD-007: the materializer's LOCK_EX on the .zst from its identity check to its unlink.
    Window("COORD-007", "materialize", ("materialize.after_lock", "materialize.after_decode",
                                        "materialize.before_link", "materialize.after_link",
                                        "materialize.before_unlink"), "zst", "inode-flock"),
    # COORD-007: the new plain file is locked from the instant it is visible until the .zst is gone.
    Window("COORD-007", "materialize", ("materialize.after_link", "materialize.before_unlink"), "plain", "inode-flock"),
    # CTL-001: the thread lock from before the open to after the last write.
    Window("CTL-001", "append", ("append.after_open", "append.after_lock", "append.before_write",
                                 "append.after_write"), "thread", "codex-thread-locks"),
    Window("CTL-001", "materialize", ("materialize.after_lock", "materialize.after_decode", "materialize.before_link",
                                      "materialize.after_link", "materialize.before_unlink",
                                      "materialize.after_unlink"), "thread", "codex-thread-locks"),
    # CTL-003: the coordination lock from the probe until the plain file is unlinked.
    Window("CTL-003", "compress", ("compress.after_lock", "compress.before_publish", "compress.after_publish",
                                   "compress.before_unlink"), "coordination", "codex-thread-locks"),
)


def _params(requirement: str):
    return [pytest.param(w, id=f"{w.op}-{w.held}") for w in WINDOWS if w.requirement == requirement]


def _held(home: Path, r: kit.Rollout, what: str) -> bool:
    if what == "plain":
        return (home / r.rel).exists() and kit.lock_nb_fails(home / r.rel, exclusive=True)
    if what == "zst":
        return (home / r.zst).exists() and kit.lock_nb_fails(home / r.zst, exclusive=False)
    if what == "thread":
        return kit.thread_lock_held(home, r.id)
    return kit.lock_nb_fails(kit.coordination_lock_path(home))


def _sweep(store_selection: str, home: Path, window: Window) -> None:
    """One store session; for each point of the window a fresh rollout, the op held there, a look."""
    unheld = []
    with kit.failpoint_session(store_selection, home) as session:
        if window.scheme and window.scheme not in session.store.hello().coordination:
            pytest.skip(f"store did not declare coordination scheme {window.scheme}")
        kit.require_failpoints(session, *window.points)
        for minute, point in enumerate(window.points):
            r = kit.make_rollout(home, old=True, compressed=window.op == "materialize", lines=2, minute=minute)
            args = (r.rel, [kit.line_text("in-the-window")]) if window.op == "append" else (r.rel,)
            with session.held_at(point, getattr(session.store, window.op), *args) as box:
                if not _held(home, r, window.held):
                    unheld.append(point)
            assert "error" not in box, f"{point}: {box.get('error')!r}"
    assert not unheld, (f"{window.op}: the {window.held} lock is not held at {', '.join(unheld)}, inside the window "
                        f"{window.points[0]} .. {window.points[-1]} ({window.requirement})")


@pytest.mark.req("COORD-001")
@pytest.mark.needs("failpoints")
@pytest.mark.parametrize("window", _params("COORD-001"))
def test_appender_lock_window(store_selection, home, window):
    _sweep(store_selection, home, window)


@pytest.mark.req("COORD-006")
@pytest.mark.needs("failpoints")
@pytest.mark.parametrize("window", _params("COORD-006"))
def test_compressor_lock_window(store_selection, home, window):
    _sweep(store_selection, home, window)


@pytest.mark.req("COORD-007")
@pytest.mark.needs("failpoints")
@pytest.mark.parametrize("window", _params("COORD-007"))
def test_materializer_lock_window(store_selection, home, window):
    _sweep(store_selection, home, window)


@pytest.mark.req("CTL-001")
@pytest.mark.needs("failpoints")
@pytest.mark.parametrize("window", _params("CTL-001"))
def test_thread_lock_window(store_selection, home, window):
    _sweep(store_selection, home, window)


@pytest.mark.req("CTL-003")
@pytest.mark.needs("failpoints")
@pytest.mark.parametrize("window", _params("CTL-003"))
def test_coordination_lock_window(store_selection, home, window):
    _sweep(store_selection, home, window)
