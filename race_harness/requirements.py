"""Which SPEC.md requirement each violation class breaks: the one place to fix ids.

Contract: every violation the checker or a scenario reports carries ``REQUIREMENT[cls]``, an id
of SPEC.md (``#### COORD-009 · MUST · writer``); when SPEC.md renumbers, change them here only.
"""

from __future__ import annotations

REQUIREMENT = {
    "lost_line": "COORD-009",  # every acknowledged line appears exactly once, whole, in order
    "duplicate_line": "COORD-009",
    "order": "COORD-009",
    "read_not_prefix": "COORD-009",  # reads of an append-only rollout only ever grow
    "raw_bytes_in_zst": "APPEND-001",  # nothing but the published frames ever lands in a `.zst`
    "torn_frame": "COMP-003",  # a published `.zst` decodes, across frames, to the plain bytes
    "partial_line": "COORD-005",  # no `.zst` ends in (or holds) a partial line (R3)
    "garbled_line": "APPEND-002",  # lines of concurrent appenders never interleave (R6)
    "read_failed": "READ-004",  # a reader racing a transition still finds the rollout (R11)
    "header_failed": "READ-011",  # header works on either representation, through transitions
    "two_representations": "RECOVER-005",  # one representation per rollout after recovery
    "active_and_archived": "LIFE-004",  # never both active and archived (R8)
    "resurrected": "LIFE-005",  # a deleted rollout stays deleted (R9)
    "deleted_while_open": "LIFE-006",  # delete of a rollout a live writer holds fails busy
    "not_archived": "LIFE-001",  # an acknowledged archive leaves the rollout under archived_sessions/
    "not_unarchived": "LIFE-002",  # an acknowledged unarchive leaves it under sessions/
    "temp_left": "RECOVER-005",  # no temp survives a cleanup run once its owner is gone
    "live_temp_removed": "COMP-015",  # cleanup never deletes a temp whose owner lives (R10)
}
