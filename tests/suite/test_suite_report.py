"""Issue 14, items 2 and 4: the suite's JSON report follows its shipped, versioned schema; JUnit carries
requirement ids as plain strings and shows inconclusive tests as skipped with the reason, not failures."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from helpers.cli import cli
from conformance.reports.json_report import FORMAT_VERSION, schema, validate_report


def _suite(tmp_path, store: str, *pytest_args: str):
    report, junit = tmp_path / "r.json", tmp_path / "j.xml"
    done = cli("suite", "--store", store, "--report", str(report), "--junitxml", str(junit), "--",
               "-q", "-n", "2", *pytest_args)
    return done, json.loads(report.read_text()), ET.parse(junit).getroot()


def test_failing_report_follows_the_schema_with_messages_and_project_paths(tmp_path):
    done, report, junit = _suite(tmp_path, "mutant:reader-prefers-zst", "-k", "test_plain_wins or test_every_frame")
    assert done.returncode == 1, done.stdout[-3000:]
    validate_report(report)
    assert report["format_version"] == FORMAT_VERSION == schema()["properties"]["format_version"]["const"]
    assert report["handshake"]["name"] and report["handshake"]["version"] and report["handshake"]["capabilities"]
    assert "coordination" in report["handshake"]
    assert report["started"] <= report["finished"] and report["interrupted"] is False
    assert report["status"] == "failed" and report["totals"]["requirements"]["failed"] == 1
    tests = report["requirements"]["READ-001"]["tests"]
    assert [t["nodeid"] for t in tests] == sorted(t["nodeid"] for t in tests), "tests are not in a stable order"
    failed = [t for t in tests if t["outcome"] == "failed"]
    assert failed, tests
    for test in failed:
        assert "did not select the plain file" in test["detail"], test  # the message, not only a location
        assert test["location"].startswith("conformance/suite/test_read.py:"), test["location"]
    for prop in junit.iter("property"):
        if prop.get("name") == "requirement":
            assert prop.get("value") in report["requirements"], prop.attrib  # a plain id, not a list repr


def test_inconclusive_tests_are_junit_skipped_with_the_reason_and_exit_3(tmp_path):
    done, report, junit = _suite(tmp_path, "mutant:program-crashes", "-k", "test_plain_wins")
    assert done.returncode == 3, done.stdout[-3000:]
    validate_report(report)
    assert report["status"] == "inconclusive"
    suite = junit if junit.tag == "testsuite" else junit.find("testsuite")
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
    skipped = [case.find("skipped") for case in junit.iter("testcase")]
    assert skipped and all(s is not None and s.get("message", "").startswith("INCONCLUSIVE:") for s in skipped)
    names = {p.get("name") for p in junit.iter("property")}
    assert {"requirement", "inconclusive"} <= names
