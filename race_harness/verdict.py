"""What a scenario, exploration or campaign concluded, and the exit code that says it.

Contract: ``passed`` (no violation), ``violation`` (at least one, each with its witness) or
``inconclusive`` (the run could not prove anything: missing failpoints, a store that broke at
protocol level); exit codes 0, 1 and 3 respectively (2 is a usage error, decided by the CLI).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from race_harness.checker import Violation

PASSED, VIOLATION, INCONCLUSIVE = "passed", "violation", "inconclusive"


@dataclass(frozen=True)
class Verdict:
    """The conclusion of one named run, with everything a person needs to read it."""

    name: str
    status: str
    violations: tuple[Violation, ...] = ()
    notes: tuple[str, ...] = ()
    workdir: str = ""
    bundle: str = ""
    stats: dict = field(default_factory=dict)

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(sorted({v.cls for v in self.violations}))

    def describe(self) -> str:
        head = f"{self.name}: {self.status}"
        if self.violations:
            head += " (" + ", ".join(self.classes) + ")"
        lines = [head] + [f"  note: {note}" for note in self.notes]
        lines += ["  " + v.describe().replace("\n", "\n  ") for v in self.violations]
        if self.bundle:
            lines.append(f"  repro bundle: {self.bundle}")
            lines.append(f"  timeline:     {os.path.join(self.bundle, 'timeline.html')}")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "classes": list(self.classes),
                "violations": [{"class": v.cls, "requirement": v.requirement, "rollout": v.rollout,
                                "witness": v.witness, "operations": list(v.operations), "refs": list(v.refs)} for v in self.violations],
                "notes": list(self.notes), "bundle": self.bundle, "stats": self.stats}


def worst(verdicts: list[Verdict]) -> str:
    """The status a batch of verdicts adds up to: any violation, else any inconclusive, else passed."""
    statuses = {v.status for v in verdicts}
    return VIOLATION if VIOLATION in statuses else INCONCLUSIVE if INCONCLUSIVE in statuses else PASSED
