"""Replay a repro bundle: impose its schedule again and say whether the violation came back.

Contract: :func:`replay` re-runs what the bundle's meta describes (same store selection per role, seed,
parameters, and for explorations the same choice list), then reports ``reproduced`` when every
violation class of the bundle shows up again, and ``diverged`` with the first decision that differs
when the failpoint decisions of the new run are not those recorded.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

from race_harness.bundle import load_meta
from race_harness.campaign import CampaignConfig, run_campaign
from race_harness.explore import PAIRS, interleave
from race_harness.faults import TARGETS, sweep_one
from race_harness.hosts import Placement
from race_harness.judge import fresh_workdir
from race_harness.roles import Roles
from race_harness.scenarios import run_scenario
from race_harness.verdict import Verdict


@dataclass(frozen=True)
class Replay:
    """The outcome of one replay, in words and as flags."""

    reproduced: bool
    diverged: str  # "" when the new run took the recorded decisions
    verdict: Verdict
    expected: tuple[str, ...]

    def describe(self) -> str:
        head = ("reproduced" if self.reproduced else "NOT reproduced") + f": expected {', '.join(self.expected)}, got " + (
            ", ".join(self.verdict.classes) or self.verdict.status)
        lines = [head, "schedule " + (f"diverged: {self.diverged}" if self.diverged else "followed as recorded")]
        return "\n".join(lines + [self.verdict.describe()])


def replay(folder: str, root: str | None = None, bundle_dir: str | None = None) -> Replay:
    """Run the bundle in ``folder`` again."""
    meta, schedule = load_meta(folder)
    root = root or tempfile.mkdtemp(prefix="race-replay-")
    kind, params, selection, seed = meta["kind"], meta["params"], Roles.from_meta(meta), meta["seed"]
    if kind == "scenario":
        placement = Placement.of(params.get("hosts", ()), params.get("placement", ()))
        verdict = run_scenario(selection, meta["name"], root, seed, bundle_dir, placement)
    elif kind == "exhaustive":
        item = interleave(selection, PAIRS[params["pair"]], fresh_workdir(root, "replay"),
                          tuple(params.get("choices", ())), None, seed, bundle_dir)
        verdict = item.verdict
    elif kind == "countdown":
        verdict, _ = sweep_one(selection, TARGETS[params["target"]], params["errno"], params["n"], root, bundle_dir)
    elif kind == "campaign":
        # bundles older than window widening had no delays, older than agers no ager: replay them without
        config = CampaignConfig(**{"max_delay_ms": 0.0, "agers": 0, **params, "line_sizes": tuple(params["line_sizes"]),
                                   "hosts": tuple(params.get("hosts", ())),
                                   "placement": tuple(tuple(pair) for pair in params.get("placement", ()))})
        verdict = run_campaign(selection, config, root, bundle_dir, imposed=schedule.get("decisions"))
    else:
        raise ValueError(f"{folder}: unknown bundle kind {kind!r}")
    expected = tuple(meta.get("classes", ()))
    reproduced = bool(expected) and set(expected) <= set(verdict.classes)
    recorded = [f"{d['actor']}@{d['point']}:{d['action']}" for d in schedule.get("decisions", [])]
    return Replay(reproduced, _divergence(recorded, verdict.stats.get("decisions", []), kind), verdict, expected)


def _divergence(recorded: list[str], now: list[str], kind: str) -> str:
    if kind == "campaign":
        # A campaign's kill plan is replayed from the seed and each actor's recorded failpoint delays
        # are imposed again hit by hit; which hits happen still follows timing.
        return "" if not recorded else ("campaign decisions follow timing; the kill plan, seed and recorded "
                                        "failpoint delays are imposed")
    for index, (old, new) in enumerate(zip(recorded, now)):
        if old != new:
            return f"decision {index}: recorded {old}, now {new}"
    if len(recorded) != len(now):
        return f"recorded {len(recorded)} decisions, now {len(now)}"
    return ""
