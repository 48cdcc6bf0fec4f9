"""How ``check`` folds the suite's and the race's verdicts into one verdict per requirement.

Contract: :func:`merge` applies SPEC.md section 2: a requirement outside the chosen profile, or of a
capability or coordination scheme the store did not declare, is *skipped* whatever a column says;
otherwise the worse of the two columns wins, and a race column can confirm or contradict the suite
but never turn a suite skip into a pass (a race result counts alone only where the suite has no test).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

_RANK = ("failed", "inconclusive", "passed", "skipped", "not_run")
_RACE_TO_ROW = {"violation": "failed", "inconclusive": "inconclusive", "passed": "passed"}


@dataclass(frozen=True)
class Row:
    """One requirement's line of the table: each column, the merged verdict and why."""

    rid: str
    level: str
    suite: str
    race: str
    verdict: str
    evidence: tuple[str, ...] = ()


def worst(statuses) -> str:
    """The worst of ``statuses`` by the table's ranking (``not_run`` when there are none)."""
    statuses = [s for s in statuses if s]
    return min(statuses, key=_RANK.index) if statuses else "not_run"


def skip_reason(requirement, profile: str, declared: set[str], coordination: set[str]) -> str:
    """Why SPEC.md section 2 leaves ``requirement`` out for this store and profile ("" when it applies)."""
    if profile != "full" and requirement.capability != profile:
        return f"not in profile {profile}"
    if requirement.capability not in declared:
        return f"store did not declare capability {requirement.capability}"
    if requirement.scheme and requirement.scheme not in coordination:
        return f"store did not declare coordination scheme {requirement.scheme}"
    return ""


def race_columns(known: dict, race: list, paired: list = ()) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(race status, evidence) by requirement from ``(window, Verdict)`` pairs: a violation speaks for
    the requirement it is filed under, a scenario for the requirements that close its window; and from
    ``(requirement id, Verdict)`` of the cross-scheme pairings, each speaking for the store's half of
    its scheme."""
    statuses: dict[str, list[str]] = defaultdict(list)
    evidence: dict[str, list[str]] = defaultdict(list)
    for window, verdict in race:
        for violation in verdict.violations:
            statuses[violation.requirement].append("failed")
            evidence[violation.requirement].append(f"{verdict.name}: {violation.cls}")
        for rid, requirement in known.items():
            if window in requirement.closes:
                statuses[rid].append(_RACE_TO_ROW[verdict.status])
                if verdict.status != "passed":
                    evidence[rid].append(f"{verdict.name}: {verdict.status}")
    for rid, verdict in paired:
        statuses[rid].append(_RACE_TO_ROW[verdict.status])
        if verdict.status != "passed":
            evidence[rid].append(f"{verdict.name}: {verdict.status}")
    return {rid: worst(found) for rid, found in statuses.items()}, evidence


def merge(known: dict, suite: dict, race: list, profile: str, declared: set[str],
          coordination: set[str], paired: list = ()) -> list[Row]:
    """One :class:`Row` per requirement of ``known`` (SPEC.md order); ``suite`` is the suite report's
    ``requirements`` object, ``race`` the ``(window, Verdict)`` pairs of the race runs, ``paired`` the
    ``(requirement id, Verdict)`` of the cross-scheme pairings."""
    race_status, evidence = race_columns(known, race, paired)
    rows = []
    for rid, requirement in known.items():
        skip = skip_reason(requirement, profile, declared, coordination)
        suite_status = suite.get(rid, {}).get("status", "not_run")
        suite_status = "failed" if suite_status == "expected_failure" else suite_status
        race_result = race_status.get(rid, "not_run")
        notes = list(evidence.get(rid, ()))
        if skip:
            verdict = "skipped"
            notes.insert(0, skip)
        elif suite_status == "skipped" and race_result in ("passed", "not_run"):
            verdict = "skipped"  # the race confirms nothing the suite could not check
        else:
            verdict = worst([suite_status, race_result if race_result != "not_run" else None])
        rows.append(Row(rid, requirement.level, "skipped" if skip else suite_status, race_result, verdict,
                        tuple(notes)))
    return rows
