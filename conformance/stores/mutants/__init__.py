"""A gallery of deliberately broken stores: each one proves some suite test fails for its bug.

Contract: :data:`MUTANTS` maps a name to a :class:`Mutant`.  A ``store`` mutant is the reference
store with exactly one realistic bug (a subclass overriding one operation, or calling a modified
copy of one small reference function); a ``program`` mutant is a stdio-protocol program that
misbehaves at protocol level, which the suite must report *inconclusive*, never passed.
``breaks`` names the SPEC.md requirements the bug violates: the self-test (``selftest``) checks that
at least one of them fails, and that the reference fails none.  Select one with ``mutant:<name>``
wherever a store selection is accepted (suite, serve, race harness).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from conformance.api.store import Store

from conformance.stores.mutants import compression, detection, programs, protocol, reading, schemes, writing

KINDS = ("store", "program")


@dataclass(frozen=True)
class Mutant:
    """One broken store: what it breaks, what upstream behaviour it mirrors, how to build it."""

    name: str
    breaks: tuple[str, ...]  # SPEC.md requirement ids that must fail against it
    mirrors: str  # the upstream behaviour, issue or plausible bug it reproduces, in words
    factory: Callable[[], Store]  # zero-argument: a fresh, unconfigured store
    kind: str = "store"  # "store" (in process) or "program" (stdio protocol, must be inconclusive)
    scenarios: tuple[str, ...] = ()  # race_harness scenarios expected to catch it as well

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"mutant {self.name}: kind must be one of {KINDS}")
        if not self.breaks:
            raise ValueError(f"mutant {self.name}: name at least one requirement it breaks")

    def __call__(self) -> Store:
        """A mutant is its own factory, so ``selection`` can call ``MUTANTS[name]()``."""
        return self.factory()


def _gallery() -> dict[str, Mutant]:
    found: dict[str, Mutant] = {}
    for module in (reading, writing, compression, protocol, schemes, detection, programs):
        for name, breaks, mirrors, factory, kind, scenarios in module.MUTANTS:
            if name in found:
                raise ValueError(f"two mutants are named {name!r}")
            found[name] = Mutant(name, tuple(breaks), mirrors, factory, kind, tuple(scenarios))
    return found


#: Every mutant by name, grouped in the source by area (reading, writing, compression, protocol).
MUTANTS: dict[str, Mutant] = _gallery()

__all__ = ["KINDS", "MUTANTS", "Mutant"]
