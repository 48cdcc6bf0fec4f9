"""What a soak runs: one store selection, the kinds of run, the seeds and the shape of each run.

Contract: a :class:`SoakPlan` is a frozen record that travels to every worker as one JSON string
(``--soak-plan=``) and back into each bundle's rerun command; :meth:`SoakPlan.items` lists its
``(kind, seed)`` pairs, each one pytest-xdist item, in a fixed order.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

CAMPAIGN, MACHINE = "campaign", "machine"
KINDS = (CAMPAIGN, MACHINE)


@dataclass(frozen=True)
class SoakPlan:
    """A store, kinds of run and seeds; a random campaign's bounds; the state machine's profile."""

    store: str
    seeds: tuple[int, ...]
    kinds: tuple[str, ...] = (CAMPAIGN,)
    seconds: float = 5.0  # each campaign's length
    ops: int = 0  # each campaign's operation budget over all actors (0: bounded by seconds only)
    kills: bool = False
    max_delay_ms: float = 30.0
    profile: str = "smoke"  # the Hypothesis profile of each state-machine run

    def __post_init__(self) -> None:
        unknown = [kind for kind in self.kinds if kind not in KINDS]
        if unknown:
            raise ValueError(f"unknown kind(s) {', '.join(unknown)}: choose from {', '.join(KINDS)}")

    def items(self) -> list[tuple[str, int]]:
        """Every (kind, seed) the soak runs: seeds in order, each seed's kinds in order."""
        return [(kind, seed) for seed in self.seeds for kind in self.kinds]

    def params(self) -> dict:
        """The shape of the runs, as the report shows it."""
        return {"seconds": self.seconds, "ops": self.ops, "kills": self.kills, "max_delay_ms": self.max_delay_ms,
                "profile": self.profile}

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "SoakPlan":
        data = json.loads(text)
        return cls(**dict(data, seeds=tuple(data["seeds"]), kinds=tuple(data["kinds"])))


def item_id(kind: str, seed: int) -> str:
    """The id of one seed's item (pytest's parametrize id, the bundle's and the report's name)."""
    return f"{kind}-{seed}"


def parse_item_id(text: str) -> tuple[str, int]:
    kind, _, seed = text.rpartition("-")
    return kind, int(seed)
