"""Running ``rollout-conformance probe`` as a user would and reading its JSON report."""

from __future__ import annotations

import json

from conformance.reports.json_report import validate_report
from helpers.cli import cli


def probe_json(*args: str) -> tuple[int, dict]:
    """(exit code, the report, validated against its schema) of ``probe ARGS --json``."""
    done = cli("probe", *args, "--json", timeout=120)
    assert done.returncode in (0, 1, 3), done.stderr
    report = json.loads(done.stdout)
    validate_report(report, "probe-report")
    return done.returncode, report
