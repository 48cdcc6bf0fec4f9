"""Which SPEC.md requirement each violation class breaks: the one place to fix ids.

Contract: every violation the checker or a scenario reports carries ``REQUIREMENT[cls]``.  The ids
are placeholders until SPEC.md lands (``#### COORD-003 · MUST · writer``); change them here only.
"""

from __future__ import annotations

REQUIREMENT = {
    "lost_line": "COORD-001",  # an acknowledged append is visible exactly once, forever
    "duplicate_line": "COORD-001",
    "order": "COORD-001",  # one writer's lines stay in the order it wrote them
    "raw_bytes_in_zst": "APPEND-001",  # nothing but zstd frames ever lands in a `.zst`
    "torn_frame": "APPEND-001",
    "partial_line": "COMPRESS-001",  # a `.zst` holds whole JSON lines only (R3)
    "garbled_line": "APPEND-001",  # interleaved writes with no crashed writer to blame (R6)
    "read_not_prefix": "READ-001",  # reads of an append-only rollout only ever grow
    "read_failed": "READ-001",  # a reader racing a transition still finds the rollout (R11)
    "two_representations": "RECOVER-001",  # one visible representation per rollout at rest (R8)
    "resurrected": "LIFECYCLE-001",  # a deleted rollout stays deleted (R9)
    "temp_left": "RECOVER-001",  # no temp survives a cleanup run once its owner is gone
    "live_temp_removed": "RECOVER-001",  # cleanup never deletes a temp whose owner lives (R10)
}

CLASSES = tuple(REQUIREMENT)
