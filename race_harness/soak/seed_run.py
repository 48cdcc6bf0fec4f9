"""One seed of a soak: a random race campaign or a state-machine run, judged, its failure bundled.

Contract: :func:`run_seed` runs one ``(kind, seed)`` of a :class:`~race_harness.soak.plan.SoakPlan`
in a folder of its own and returns a :class:`SeedResult`: ``passed``, ``violation`` (with the classes
and requirement ids it broke and the folder of its repro bundle under ``bundle_root``) or
``inconclusive`` (saying why).  The same plan and seed draw the same operations, so a state-machine
seed gives the same verdict every time; a campaign's schedule also depends on how the processes
interleave (its bundle records the decisions that ``replay`` imposes again).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from dataclasses import dataclass, replace

from race_harness.bundle import versions
from race_harness.campaign import CampaignConfig, run_campaign
from race_harness.soak.plan import CAMPAIGN, MACHINE, SoakPlan, item_id
from race_harness.verdict import INCONCLUSIVE, PASSED, VIOLATION
from conformance.api.errors import Inconclusive

_SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass(frozen=True)
class SeedResult:
    """The verdict of one seed, as the merged report lists it."""

    kind: str
    seed: int
    status: str
    classes: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    bundle: str = ""  # the bundle folder where it was written (the worker's disk)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"kind": self.kind, "seed": self.seed, "name": item_id(self.kind, self.seed), "status": self.status,
                "classes": list(self.classes), "requirements": list(self.requirements), "notes": list(self.notes),
                "bundle": self.bundle, "seconds": self.seconds}

    def describe(self) -> str:
        head = f"{item_id(self.kind, self.seed)}: {self.status}"
        if self.classes:
            head += " (" + ", ".join(self.classes) + ")"
        return "\n".join([head] + [f"  note: {note}" for note in self.notes])


def run_seed(plan: SoakPlan, kind: str, seed: int, root: str, bundle_root: str) -> SeedResult:
    """Run ``kind`` with ``seed`` under ``root``; a failure leaves its bundle under ``bundle_root``."""
    started = time.monotonic()
    run = _campaign if kind == CAMPAIGN else _machine
    result = run(plan, seed, root, bundle_root)
    return replace(result, seconds=round(time.monotonic() - started, 3))


def _campaign(plan: SoakPlan, seed: int, root: str, bundle_root: str) -> SeedResult:
    config = CampaignConfig(seconds=plan.seconds, ops=plan.ops, seed=seed, kills=plan.kills,
                            max_delay_ms=plan.max_delay_ms)
    verdict = run_campaign(plan.store, config, root, bundle_dir=bundle_root)
    requirements = tuple(sorted({v.requirement for v in verdict.violations if v.requirement}))
    return SeedResult(CAMPAIGN, seed, verdict.status, verdict.classes, requirements, verdict.notes, verdict.bundle)


def _machine(plan: SoakPlan, seed: int, root: str, bundle_root: str) -> SeedResult:
    from hypothesis import Phase
    from hypothesis.reporting import with_reporter

    from conformance.machine.state_machine import RequirementViolation, machine_for, run_machine

    said: list[str] = []  # Hypothesis reports the falsifying steps here
    try:
        with with_reporter(said.append):
            # No shrinking: the steps of the seed itself, reproducible by rerunning the seed.
            run_machine(machine_for(plan.store), plan.profile, seed=seed, report_multiple_bugs=False,
                        phases=[Phase.explicit, Phase.generate])
    except Inconclusive as exc:
        return SeedResult(MACHINE, seed, INCONCLUSIVE, notes=(f"the store could not be judged: {exc}",))
    except RequirementViolation as exc:  # the machine's verdict: a step broke the requirement it names
        text = f"{type(exc).__name__}: {exc}"
        # Hypothesis attaches the falsifying steps to the exception as notes (PEP 678)
        bundle = _machine_bundle(plan, seed, bundle_root, exc.requirement, text,
                                 said + list(getattr(exc, "__notes__", ())))
        return SeedResult(MACHINE, seed, VIOLATION, (exc.requirement,), (exc.requirement,),
                          (text.splitlines()[0][:300],), bundle)
    except Exception as exc:  # names no requirement: the harness could not tell, it did not judge
        first_line = (str(exc).splitlines() or [""])[0][:300]
        return SeedResult(MACHINE, seed, INCONCLUSIVE, notes=(
            f"the run stopped on an error that breaks no requirement (could not tell): {type(exc).__name__}: {first_line}",))
    return SeedResult(MACHINE, seed, PASSED)


def rerun_command(plan: SoakPlan, kind: str, seed: int) -> str:
    """The soak command that runs this one seed again, here (``-n 0``)."""
    argv = [sys.executable, "-m", "conformance.cli", "soak", "--store", plan.store, "--kind", kind,
            "--seed", str(seed), "-n", "0"]
    if kind == MACHINE:
        argv += ["--profile", plan.profile]
    else:
        argv += ["--seconds", str(plan.seconds), "--ops", str(plan.ops), "--max-delay-ms", str(plan.max_delay_ms)]
        argv += ["--kills"] if plan.kills else []
    return f"cd {shlex.quote(_SOURCE_ROOT)} && {shlex.join(argv)}"


def _machine_bundle(plan: SoakPlan, seed: int, bundle_root: str, requirement: str, error: str,
                    steps: list[str]) -> str:
    """A state-machine failure's bundle: meta.json, verdict.txt with Hypothesis's steps, the rerun command."""
    name = f"{item_id(MACHINE, seed)}-{plan.store.replace('/', '_').replace(':', '_')}"
    folder = os.path.join(bundle_root, name)
    os.makedirs(folder)
    command = rerun_command(plan, MACHINE, seed)
    meta = {"kind": MACHINE, "name": name, "store": plan.store, "seed": seed, "profile": plan.profile,
            "status": VIOLATION, "requirement": requirement, "command": command, "versions": versions()}
    with open(os.path.join(folder, "meta.json"), "w") as handle:
        json.dump(meta, handle, indent=1, sort_keys=True)
    with open(os.path.join(folder, "verdict.txt"), "w") as handle:
        handle.write(f"{name}: violation ({requirement})\n{error}\n\n"
                     + "\n".join(steps) + f"\n\nrerun:  {command}\n")
    return folder
