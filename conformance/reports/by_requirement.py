"""The verdict by requirement id: which tests passed, failed, were skipped or were inconclusive."""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import asdict, dataclass

from conformance.api.requirements import Requirement
from conformance.api.store import UUID_PATTERN

# Worst first: a requirement's status is the worst of its tests' outcomes.
_SEVERITY = ("failed", "inconclusive", "expected_failure", "passed", "skipped")


#: The folder holding the installed packages: report paths are relative to it.
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass(frozen=True)
class TestOutcome:
    nodeid: str
    outcome: str  # one of _SEVERITY
    detail: str  # what happened in words: the failure's message, the skip or inconclusive reason
    location: str = ""  # file:line relative to the project where it happened ("" when unknown)
    cause: str = ""  # failed or inconclusive: the exception and message, ids, paths and numbers normalized


def requirement_ids(report) -> list[str]:
    """The SPEC.md ids a test report carries (one ``requirement`` user property per id)."""
    return [value for name, value in report.user_properties if name == "requirement"]


def project_relative(path: str) -> str:
    """``path`` relative to the project when it lies inside it, else unchanged."""
    absolute = os.path.abspath(path)
    return os.path.relpath(absolute, PROJECT_ROOT) if absolute.startswith(PROJECT_ROOT + os.sep) else path


def _failure(report) -> tuple[str, str]:
    """(message, location) of a failed report: the assertion's own words, not only where it broke."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message.strip(), f"{project_relative(crash.path)}:{crash.lineno}"
    lines = str(report.longrepr or "").strip().splitlines()
    return (lines[-1] if lines else ""), ""


_UUID = re.compile(UUID_PATTERN)
_PATH = re.compile(r"[\w./-]*rollout-[\w.-]*?(\.jsonl(\.zst)?)(?=[^\w.]|$)")


def root_cause(message: str, nodeid: str = "") -> str:
    """One failure's cause with what varies from test to test blanked out, so one bug groups as one.

    An exception the store raised is its cause (type and message); a failed assertion is caused by
    the input the test was given, when it names one (``test_x[multi_frame_zst]``): every check of one
    corpus case that a store gets wrong is one finding.  Rollout paths keep only their representation
    (``<rollout.jsonl.zst>``), so tests that fail because a ``.zst`` is not read group together.
    """
    first = message.strip().splitlines()[0] if message.strip() else ""
    case = nodeid.rpartition("[")[2].rstrip("]") if nodeid.endswith("]") else ""
    if first.startswith(("assert ", "AssertionError")) and case and not case.isdigit():
        return f"checks of input {case} fail"
    first = _UUID.sub("<id>", _PATH.sub(lambda m: f"<rollout{m.group(1)}>", first))
    return re.sub(r"\b\d+\b", "N", first)[:200]


def _outcome_of(report) -> TestOutcome | None:
    props = dict(report.user_properties)
    detail = location = ""
    if "inconclusive" in props:
        outcome, detail = "inconclusive", props["inconclusive"]
    elif report.failed:
        outcome = "failed"
        detail, location = _failure(report)
    elif report.skipped and getattr(report, "wasxfail", None):
        outcome, detail = "expected_failure", report.wasxfail
    elif report.skipped:
        outcome = "skipped"
        longrepr = report.longrepr
        detail = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        detail = detail.removeprefix("Skipped: ")
    elif report.when == "call":
        outcome = "passed"
    else:
        return None  # a passing setup or teardown says nothing on its own
    cause = root_cause(detail, report.nodeid) if outcome in ("failed", "inconclusive") else ""
    return TestOutcome(report.nodeid, outcome, detail[:1000], location, cause)


class RequirementSummary:
    """Collects test reports and folds them into one status per requirement id."""

    def __init__(self, known: dict[str, Requirement]) -> None:
        self.known = known
        self.by_test: dict[str, TestOutcome] = {}
        self.ids_of: dict[str, list[str]] = {}

    def add(self, report) -> None:
        props = dict(report.user_properties)
        ids = requirement_ids(report)
        if not ids:
            return
        outcome = _outcome_of(report)
        if outcome is None:
            return
        if outcome.outcome == "failed" and props.get("blame"):
            ids = [props["blame"]]  # the failing step's own requirement, not every id the test carries
        previous = self.by_test.get(report.nodeid)
        if previous is None or _SEVERITY.index(outcome.outcome) < _SEVERITY.index(previous.outcome):
            self.by_test[report.nodeid] = outcome
        self.ids_of[report.nodeid] = list(ids)

    def by_requirement(self) -> dict[str, list[TestOutcome]]:
        grouped: dict[str, list[TestOutcome]] = defaultdict(list)
        for nodeid, outcome in sorted(self.by_test.items()):  # stable order, whatever order workers finished
            for rid in self.ids_of[nodeid]:
                grouped[rid].append(outcome)
        return grouped

    def overall(self) -> str:
        """``failed`` if any test failed, else ``inconclusive`` if any was, else ``passed``."""
        outcomes = {o.outcome for o in self.by_test.values()}
        return "failed" if "failed" in outcomes else "inconclusive" if "inconclusive" in outcomes else "passed"

    def status(self, outcomes: list[TestOutcome]) -> str:
        if not outcomes:
            return "not_run"
        return min((o.outcome for o in outcomes), key=_SEVERITY.index)

    def failures(self) -> dict[str, str]:
        return {
            nodeid: f"{', '.join(self.ids_of[nodeid])}: {o.detail}"
            for nodeid, o in self.by_test.items()
            if o.outcome in ("failed", "inconclusive")
        }

    def root_causes(self) -> list[dict]:
        """Failed and inconclusive tests grouped by cause, most tests first: one bug, one entry."""
        groups: dict[tuple[str, str], list[str]] = defaultdict(list)
        for nodeid, o in self.by_test.items():
            if o.outcome in ("failed", "inconclusive"):
                groups[(o.outcome, o.cause)].append(nodeid)
        ranked = sorted(groups.items(), key=lambda item: -len(item[1]))
        return [{"outcome": outcome, "cause": cause, "tests": len(nodeids),
                 "requirements": sorted({rid for n in nodeids for rid in self.ids_of[n]}), "example": nodeids[0]}
                for (outcome, cause), nodeids in ranked]

    def cause_lines(self) -> list[str]:
        causes = self.root_causes()
        if not causes:
            return []
        lines = ["", f"==== {len(causes)} root cause(s) of {sum(c['tests'] for c in causes)} failing tests ===="]
        for n, c in enumerate(causes, 1):
            lines.append(f"{n}. {c['outcome']}: {c['cause'] or '(no message)'}")
            lines.append(f"   {c['tests']} tests under {', '.join(c['requirements'])}; e.g. {c['example']}")
        return lines

    def table_lines(self, selection: str) -> list[str]:
        grouped = self.by_requirement()
        lines = self.cause_lines() + ["", f"==== requirement summary for {selection} ===="]
        counts: dict[str, int] = defaultdict(int)
        for rid, requirement in self.known.items():
            outcomes = grouped.get(rid, [])
            status = self.status(outcomes)
            counts[status] += 1
            note = ""
            bad = [o for o in outcomes if o.outcome == status and status != "passed"]
            if bad:
                note = f"  ({bad[0].detail or bad[0].nodeid})"[:160]
            lines.append(f"{rid:<12} {requirement.level:<6} {requirement.capability:<10} {status:<16} {len(outcomes):>3} tests{note}")
        lines.append(" ".join(f"{status}={count}" for status, count in sorted(counts.items())))
        return lines

    def as_json(self, selection: str) -> dict:
        """The verdict part of the JSON report (conformance/protocol/schemas/report.schema.json)."""
        grouped = self.by_requirement()
        requirements = {
            rid: {
                "level": req.level,
                "capability": req.capability,
                "status": self.status(grouped.get(rid, [])),
                "tests": [asdict(o) for o in grouped.get(rid, [])],
            }
            for rid, req in self.known.items()
        }
        by_requirement: dict[str, int] = defaultdict(int)
        for entry in requirements.values():
            by_requirement[entry["status"]] += 1
        by_test: dict[str, int] = defaultdict(int)
        for outcome in self.by_test.values():
            by_test[outcome.outcome] += 1
        return {
            "store": selection,
            "status": self.overall(),
            "totals": {"requirements": dict(sorted(by_requirement.items())), "tests": dict(sorted(by_test.items()))},
            "root_causes": self.root_causes(),
            "requirements": requirements,
        }
