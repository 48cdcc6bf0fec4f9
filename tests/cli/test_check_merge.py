"""``check`` merges the suite's and the race's columns by SPEC.md section 2 (issue #21, items 2 and 8)."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

from conformance.api import requirements
from conformance.cli.check_merge import merge
from conformance.reports.json_report import validate_report
from race_harness.scenarios import run_scenario

NO_SCHEME = "py:doubles.stores:no_scheme_store"


def test_a_race_pass_never_turns_an_undeclared_scheme_into_a_pass(tmp_path):
    known = requirements.load()
    r2 = run_scenario(NO_SCHEME, "r2-writer-vs-unlink", str(tmp_path))
    assert r2.status == "passed", r2.describe()  # the race column says passed for R2's requirements ...
    suite = {rid: {"status": "skipped"} for rid, req in known.items() if req.scheme}
    rows = {row.rid: row for row in merge(known, suite, [("R2", r2)], "full",
                                          {"reader", "writer", "compressor", "lifecycle"}, set())}
    scheme_ids = [rid for rid, req in known.items() if req.scheme]
    assert any(rid.startswith("CTL-") for rid in scheme_ids) and any(rid.startswith("COORD-") for rid in scheme_ids)
    assert any(rows[rid].race == "passed" for rid in scheme_ids)
    for rid in scheme_ids:  # ... and every scheme requirement is skipped, with the reason first
        assert rows[rid].verdict == "skipped", rows[rid]
        assert rows[rid].evidence[0].startswith("store did not declare coordination scheme"), rows[rid]
    assert rows["COORD-009"].verdict == "passed"  # an outcome every store owes, confirmed by the race


def test_a_race_column_confirms_or_contradicts_a_suite_skip_never_passes_it(tmp_path):
    known = requirements.load()
    r2 = run_scenario("reference", "r2-writer-vs-unlink", str(tmp_path))
    everything = {"reader", "writer", "compressor", "lifecycle"}
    schemes = {"inode-flock", "codex-thread-locks"}
    rid = next(r for r, req in known.items() if "R2" in req.closes and not req.scheme)
    row = merge(known, {rid: {"status": "skipped"}}, [("R2", r2)], "full", everything, schemes)
    assert next(r for r in row if r.rid == rid).verdict == "skipped"
    row = merge(known, {rid: {"status": "passed"}}, [("R2", r2)], "full", everything, schemes)
    assert next(r for r in row if r.rid == rid).verdict == "passed"


def test_check_writes_a_json_report_and_junit_xml(tmp_path):
    report, junit = tmp_path / "check.json", tmp_path / "check.xml"
    done = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "check", "--profile", "reader", "--report", str(report),
         "--junitxml", str(junit), "--workdir", str(tmp_path / "w")],
        capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    data = json.loads(report.read_text())
    validate_report(data, "check-report")
    assert data["status"] == "passed" and set(data["requirements"]) == set(requirements.load())
    assert data["requirements"]["COMP-001"]["verdict"] == "skipped"
    assert data["requirements"]["COMP-001"]["evidence"] == ["not in profile reader"]
    cases = {case.get("name"): case for case in ET.parse(junit).getroot()}
    assert set(cases) == set(requirements.load())
    assert cases["COMP-001"].find("skipped") is not None and cases["READ-001"].find("skipped") is None


def test_an_unknown_option_prints_the_subcommands_usage():
    done = subprocess.run([sys.executable, "-m", "conformance.cli", "check", "--no-such-option"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "usage: rollout-conformance check" in done.stderr and "--no-such-option" in done.stderr, done.stderr
