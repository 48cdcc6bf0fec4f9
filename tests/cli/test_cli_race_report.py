"""Issue 14, item 4 for `race --report`: a versioned JSON Schema shipped in the package
(conformance/protocol/schemas/race-report.schema.json), which real reports follow: passing, violation and
(tests/cli/test_cli_interrupts.py) interrupted."""

from __future__ import annotations

import json
import os

import jsonschema
import pytest

from helpers.cli import cli
from conformance.reports.json_report import schema, validate_report
from race_harness.requirements import REQUIREMENT


def _race_report(tmp_path, store: str, scenario: str) -> tuple[int, dict]:
    report = tmp_path / f"{scenario}.json"
    done = cli("race", "--store", store, "--scenario", scenario, "--report", str(report),
               "--bundle-dir", str(tmp_path / "bundles"), env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert report.exists(), done.stdout[-2000:] + done.stderr[-2000:]
    return done.returncode, json.loads(report.read_text())


def test_a_passing_race_report_follows_the_schema(tmp_path):
    code, report = _race_report(tmp_path, "reference", "r1-write-between-stats")
    assert code == 0 and report["status"] == "passed" and report["interrupted"] is False
    validate_report(report, "race-report")
    assert report["roles"] == {"writer": "reference", "compressor": "reference", "reader": "reference"}


def test_a_violation_race_report_follows_the_schema_with_its_witnesses(tmp_path):
    code, report = _race_report(tmp_path, "mutant:append-to-zst", "r4-append-after-unlink")
    assert code == 1 and report["status"] == "violation"
    validate_report(report, "race-report")
    violations = [v for verdict in report["verdicts"] for v in verdict["violations"]]
    assert violations and all(v["requirement"] == REQUIREMENT[v["class"]] for v in violations)
    without = {k: v for k, v in report.items() if k != "interrupted"}
    with pytest.raises(jsonschema.ValidationError):
        validate_report(without, "race-report")  # the schema holds the report to its fields


def test_a_random_campaign_report_follows_the_schema(tmp_path):
    """Whatever a short campaign concludes on a loaded machine (passed or inconclusive), its report,
    with the campaign's statistics, follows the schema. Bounded by operations, not by time, so the
    statistics are there however slow the machine is."""
    report = tmp_path / "campaign.json"
    done = cli("race", "--store", "reference", "--random", "--seconds", "0", "--ops", "40", "--report", str(report),
               "--bundle-dir", str(tmp_path / "bundles"), env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert done.returncode in (0, 3), done.stdout[-2000:] + done.stderr[-2000:]
    data = json.loads(report.read_text())
    validate_report(data, "race-report")
    assert data["verdicts"][0]["stats"]["operations"], data["verdicts"][0]


def test_the_schema_names_every_violation_class_the_harness_reports():
    assert set(schema("race-report")["$defs"]["class"]["enum"]) == set(REQUIREMENT)
    assert schema("race-report")["properties"]["format_version"]["const"] == 1
