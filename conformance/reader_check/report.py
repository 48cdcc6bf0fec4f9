"""The verdict in words, as JSON (like the suite's ``--report``) and as JUnit XML (one test per case)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict
from pathlib import Path

from conformance.reader_check.cases import CASES
from conformance.reader_check.check import Outcome, Settings


def text(outcome: Outcome, settings: Settings) -> list[str]:
    m = outcome.manifest
    large = max(r.size for r in m.rollouts)
    lines = [f"home: {len(m.rollouts)} rollouts over {_span_days(m)} days ({sum(r.old for r in m.rollouts)} cold, "
             f"{sum(r.archived for r in m.rollouts)} archived, largest {large / (1 << 20):.1f} MiB), seed {settings.seed}"]
    for command, base in outcome.baseline.items():
        if base.get("lookup"):
            lines.append(f"lookup: `{command}`, per session" + (f"; ignored as varying between identical runs: "
                                                                f"{base['noise_ignored']}" if base["noise_ignored"] else ""))
            continue
        lines.append(f"plain home: `{command}` exit {base['exit_code']}, "
                     f"{base['reading'] or 'not judged'} ({base['baseline_runs']} identical runs)")
        if base["noise_ignored"]:
            lines.append(f"  ignored as varying between identical runs: {base['noise_ignored']}")
        lines += [f"  | {line}" for line in base["first_lines"]]
        if base["ambiguous_fragments"]:
            lines.append(f"  id fragments matching several sessions, counted for none: "
                         f"{', '.join(base['ambiguous_fragments'])}")
    lines.append("")
    lines.append(f"{'case':<17} {'changed':>7}  result")
    for case in CASES:
        if case.name not in outcome.touched:
            continue
        lines.append(f"{case.name:<17} {len(outcome.touched[case.name]):>7}  {_case_result(outcome, case.name)}")
    for n, finding in enumerate(outcome.findings, 1):
        lines += ["", f"FINDING {n}: {finding.title}", f"  breaks: {', '.join(finding.requirements)}",
                  f"  cases: {', '.join(finding.cases)}"]
        lines += [f"  e.g. {_example(outcome, e)}" for e in finding.examples]
        lines += [f"  | {line}" for line in finding.detail.splitlines()]
    for reason in outcome.inconclusive:
        lines += ["", f"INCONCLUSIVE: {reason}"]
    lines += ["", f"verdict: {outcome.verdict.upper()} (exit {outcome.exit_code})"]
    return lines


def _span_days(m) -> int:
    return round((max(r.mtime_ns for r in m.rollouts) - min(r.mtime_ns for r in m.rollouts)) / 86_400e9)


def _example(outcome: Outcome, example: str) -> str:
    # A bare rollout id gets its path and marker, so the author can look at the file.
    for r in outcome.manifest.rollouts:
        if example.endswith(r.id):
            return f"{example} ({r.logical}, first message starts with {r.marker!r})"
    return example


def _case_result(outcome: Outcome, case: str) -> str:
    mine = [f for f in outcome.findings if case in f.cases]
    timeouts = [o for o in outcome.observations if o.case == case and o.after.timed_out]
    if mine:
        return "FAILED: " + "; ".join(f"finding {outcome.findings.index(f) + 1}" for f in mine)
    if timeouts:
        return "inconclusive: timed out"
    return "same information as before" if any(o.case == case for o in outcome.observations) else "not judged"


_WORST_FIRST = ("failed", "inconclusive", "passed", "not_run")


def requirement_status(outcome: Outcome) -> dict[str, str]:
    """Per SPEC.md id: failed when a finding breaks it, else the worst result of the cases that test it."""
    status: dict[str, str] = {}

    def note(rid: str, value: str) -> None:
        old = status.get(rid, "not_run")
        status[rid] = min(old, value, key=_WORST_FIRST.index)

    for case in CASES:
        if case.name not in outcome.touched:
            continue
        result = _case_result(outcome, case.name)
        value = "passed" if result == "same information as before" else \
            "inconclusive" if result.startswith("inconclusive") else "not_run"
        for rid in case.requirements:
            note(rid, value)
    for finding in outcome.findings:
        for rid in finding.requirements:
            note(rid, "failed")
    return dict(sorted(status.items()))


def as_json(outcome: Outcome, settings: Settings) -> dict:
    requirements = requirement_status(outcome)
    return {
        "tool": [t.text for t in settings.commands],
        "env": [f"{k}={v}" for k, v in settings.env],
        "verdict": outcome.verdict,
        "exit_code": outcome.exit_code,
        "home": {"rollouts": len(outcome.manifest.rollouts), "seed": settings.seed,
                 "cold": sum(r.old for r in outcome.manifest.rollouts)},
        "baseline": outcome.baseline,
        "findings": [asdict(f) for f in outcome.findings],
        "inconclusive": list(outcome.inconclusive),
        "cases": {name: {"changed": list(ids), "result": _case_result(outcome, name)}
                  for name, ids in outcome.touched.items()},
        "requirements": requirements,
        "runs": [{"case": o.case, "command": o.command, "rollout": o.rollout, "argv": list(o.after.argv),
                  "exit_before": o.before.exit_code, "exit_after": o.after.exit_code,
                  "seconds": round(o.after.seconds, 3), "crash": o.after.crash,
                  "stdout_lines": len(o.after.stdout.splitlines()), "stderr_lines": len(o.after.stderr.splitlines()),
                  "disappeared": list(o.change.disappeared), "lost_content": list(o.change.lost_content),
                  "duplicated": list(o.change.duplicated), "numbers_lost": list(o.change.numbers_lost[:20]),
                  "numbers_gained": list(o.change.numbers_gained[:20])} for o in outcome.observations],
    }


def write_json(outcome: Outcome, settings: Settings, path: str) -> None:
    Path(path).write_text(json.dumps(as_json(outcome, settings), indent=1) + "\n")


def write_junit(outcome: Outcome, path: str) -> None:
    """One testcase per case; a failure per finding naming it, a skip for what was inconclusive."""
    suite = ET.Element("testsuite", name="reader-check", tests=str(len(outcome.touched)))
    failures = skipped = 0
    for case, ids in outcome.touched.items():
        tc = ET.SubElement(suite, "testcase", classname="reader-check", name=case)
        props = ET.SubElement(tc, "properties")
        reqs = next(c.requirements for c in CASES if c.name == case)
        ET.SubElement(props, "property", name="requirements", value=",".join(reqs))
        mine = [f for f in outcome.findings if case in f.cases]
        for finding in mine:
            ET.SubElement(tc, "failure", message=finding.title).text = "\n".join(
                (f"breaks: {', '.join(finding.requirements)}",) + finding.examples + (finding.detail,))
        if mine:
            failures += 1
        elif not ids or "inconclusive" in _case_result(outcome, case):
            ET.SubElement(tc, "skipped", message=_case_result(outcome, case) if ids else "no rollout to change")
            skipped += 1
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
