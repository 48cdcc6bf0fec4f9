"""The reference seen as a tool that only enumerates active sessions: it declares ``discovery`` and scope
``sessions`` honestly, so the suite runs list and find tests on ``sessions/`` and skips the rest with the
declared reason (dogfood for the sub-profile; select it as ``py:doubles.discovery_store:make_store``).
"""

from __future__ import annotations

from dataclasses import replace

from conformance.api.store import Hello, RolloutEntry
from reference.store import ReferenceStore


class ActiveSessionLister(ReferenceStore):
    """Lists and finds rollouts under ``sessions/``; knows nothing of the archive, reads no content."""

    def hello(self) -> Hello:
        return replace(super().hello(), name="active-session-lister", capabilities=("discovery",), failpoints=(),
                       scope=("sessions",))

    def list(self, archived: bool = False) -> list[RolloutEntry]:
        return [] if archived else super().list()

    def find(self, rollout_id: str) -> RolloutEntry | None:
        entry = super().find(rollout_id)
        return None if entry is None or entry.archived else entry


def make_store() -> ActiveSessionLister:
    return ActiveSessionLister()
