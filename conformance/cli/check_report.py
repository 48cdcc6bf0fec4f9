"""What ``check --report`` and ``check --junitxml`` write: the merged table, for CI.

Contract: :func:`build` makes the JSON report described by
``conformance/protocol/schemas/check-report.schema.json``; :func:`write_junit` writes one testcase
per requirement (a failure for ``failed``, an error for ``inconclusive`` or ``not_run``, a skip with
its reason for ``skipped``).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from conformance.cli.contract import tool_version

FORMAT = "rollout-conformance/check-report"
FORMAT_VERSION = 1


def build(rows: list, known: dict, race: list, hello, *, store: str, profile: str, seed: int, seconds: float,
          started: str, finished: str, interrupted: bool, status: str, totals: dict) -> dict:
    """The report of one ``check`` run (``rows`` from :func:`conformance.cli.check_merge.merge`)."""
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "kind": "check",
        "tool": {"name": "rollout-conformance", "version": tool_version()},
        "store": store,
        "handshake": {"name": hello.name, "version": hello.version, "capabilities": sorted(hello.capabilities),
                      "coordination": sorted(hello.coordination)},
        "profile": profile, "seed": seed, "seconds": seconds, "started": started, "finished": finished,
        "interrupted": interrupted, "status": status, "totals": dict(totals),
        "requirements": {row.rid: {"level": row.level, "capability": known[row.rid].capability,
                                   "scheme": known[row.rid].scheme, "suite": row.suite, "race": row.race,
                                   "verdict": row.verdict, "evidence": list(row.evidence)} for row in rows},
        "race_runs": [{"name": v.name, "window": window, "status": v.status, "classes": list(v.classes),
                       "notes": list(v.notes), "bundle": v.bundle} for window, v in race],
    }


def write_json(report: dict, path: str) -> None:
    with open(path, "w") as handle:
        json.dump(report, handle, indent=1)


def write_junit(rows: list, path: str) -> None:
    """One testcase per requirement id, named by it (classname ``check``)."""
    suite = ET.Element("testsuite", name="rollout-conformance check", tests=str(len(rows)))
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    for row in rows:
        case = ET.SubElement(suite, "testcase", classname="check", name=row.rid)
        detail = "\n".join((f"suite: {row.suite}", f"race: {row.race}") + row.evidence)
        if row.verdict == "failed":
            ET.SubElement(case, "failure", message=f"{row.rid} failed").text = detail
            counts["failures"] += 1
        elif row.verdict in ("inconclusive", "not_run"):
            ET.SubElement(case, "error", message=f"{row.rid} {row.verdict.replace('_', ' ')}").text = detail
            counts["errors"] += 1
        elif row.verdict == "skipped":
            ET.SubElement(case, "skipped", message=row.evidence[0] if row.evidence else "skipped")
            counts["skipped"] += 1
    for name, count in counts.items():
        suite.set(name, str(count))
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
