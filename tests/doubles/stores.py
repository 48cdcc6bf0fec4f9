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
