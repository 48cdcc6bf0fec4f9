"""Correct variants of the reference: stores that take a path SPEC.md allows where the reference
chooses a stricter one.  They must pass everything the reference passes; they are no mutants, so
the self-test never expects them caught.  Select one with ``variant:<name>``.

Contract: :data:`VARIANTS` maps a name to a :class:`Variant` (what it does differently, and its
zero-argument factory).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from conformance.api.errors import ConflictError
from conformance.api.store import Store
from reference.store import ReferenceStore


@dataclass(frozen=True)
class Variant:
    """One correct store that differs from the reference where SPEC.md leaves a choice."""

    name: str
    differs: str  # where it leaves the reference's path, and the SPEC.md text that allows it
    factory: Callable[[], Store]

    def __call__(self) -> Store:
        return self.factory()


class SpecLiteralStore(ReferenceStore):
    """``archive``/``unarchive`` refuse with ``conflict`` as their first step when both representations
    exist, before taking any lock (SPEC.md 5.2's first step), as well as under the lock as the
    reference does.  Between a compressor's publish and its unlink, it answers ``conflict`` where the
    reference waits for the compressor and then moves the rollout."""

    name = "variant-spec-literal"

    def archive(self, path: str) -> str:
        self._refuse_both(path)
        return super().archive(path)

    def unarchive(self, path: str) -> str:
        self._refuse_both(path)
        return super().unarchive(path)

    def _refuse_both(self, path: str) -> None:
        location = self._locate(path)
        if os.path.lexists(location.plain) and os.path.lexists(location.zst):
            raise ConflictError("both representations present; run cleanup first", path=location.rel)


VARIANTS: dict[str, Variant] = {v.name: v for v in [
    Variant("spec-literal", "archive and unarchive refuse with conflict before locking when both "
            "representations exist (SPEC.md 5.2 allows it); the reference checks only under the lock",
            SpecLiteralStore),
]}
