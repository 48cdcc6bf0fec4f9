"""Stores the race tests select as ``py:doubles.stores:<factory>``: the reference with one declared trait changed.

Selected by name, so that the actors of a campaign (other processes) build the same store; the rootdir
``tests/conftest.py`` puts ``tests/`` on every subprocess's ``PYTHONPATH``.
"""

from __future__ import annotations

from dataclasses import replace


def no_failpoint_store():
    """The reference, declaring no failpoints (a store without the failpoint channel)."""
    from dataclasses import replace

    from reference.store import ReferenceStore

    class Quiet(ReferenceStore):
        def hello(self):
            return replace(super().hello(), failpoints=())

    return Quiet()


def fixed_week_store():
    """The reference with codex's fixed cold age: it ignores the cold age it is configured with."""
    from reference.store import ReferenceStore

    class Weekly(ReferenceStore):
        def configure(self, home, cold_after_seconds=0.0):
            super().configure(home, 7 * 24 * 3600.0)

    return Weekly()


def codex_like_store():
    """What codex 0.171.0 offers the harness, played by the reference: its lock-file scheme only, a
    cold age fixed at 7 days whatever it is configured with, and no failpoints."""
    from reference.store import ReferenceStore

    class CodexLike(ReferenceStore):
        def __init__(self):
            super().__init__(("codex-thread-locks",))

        def hello(self):
            return replace(super().hello(), failpoints=())

        def configure(self, home, cold_after_seconds=0.0):
            super().configure(home, 7 * 24 * 3600.0)

    return CodexLike()


#: What ``partial_failpoint_store`` still reports: the first half of each operation (a port that wired
#: the failpoints of phase 1 and forgot those of publish and unlink).
PARTIAL_POINTS = ("append.after_open", "append.after_lock", "append.before_write", "append.after_write",
                  "compress.after_open", "compress.after_encode", "compress.after_lock",
                  "materialize.after_lock", "materialize.after_decode")


def partial_failpoint_store():
    """The reference (``inode-flock`` alone, so a compress can win a race against a writer) declaring
    every failpoint but reporting only :data:`PARTIAL_POINTS` (in the process that builds it: each race
    actor builds its own store)."""
    from reference import failpoints
    from reference.store import ReferenceStore

    report = failpoints.hit

    def some_only(point, path=None):
        if point in PARTIAL_POINTS:
            report(point, path)

    failpoints.hit = some_only
    return ReferenceStore(("inode-flock",))


def no_scheme_store():
    """The reference declaring no coordination scheme (judged by the outcomes alone, SPEC.md 5.1)."""
    from reference.store import ReferenceStore

    class Unschemed(ReferenceStore):
        def hello(self):
            return replace(super().hello(), coordination=())

    return Unschemed()


def untyped_error_store():
    """The reference whose reads and lists raise an error the contract has no type for (not a StoreError)."""
    from reference.store import ReferenceStore

    class Untyped(ReferenceStore):
        def read(self, *args, **kwargs):
            raise RuntimeError("an error outside the contract")

        def list(self, *args, **kwargs):
            raise RuntimeError("an error outside the contract")

    return Untyped()
