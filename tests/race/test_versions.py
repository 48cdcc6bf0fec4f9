"""Codex releases against each other and the reference on one home (``race_harness.versions``).

The experiments on real releases need ``rollout-conformance codex install 0.146.0 0.171.0`` (``.ci/run``
does it); without npm or the registry they skip and say so.  0.146.0's sessions take no writer lock
(lockless); 0.171.0's do, and it has ``rollout/compress``.
"""

from __future__ import annotations

import json
import os

import pytest

from conformance.reports.json_report import validate_report
from conformance.stores.codex.install import missing_reason
from race_harness.versions import CANNOT_SEE, LOSES_WRITES, SAFE, Hold, Seen, hold_then_compress, judge
from helpers.cli import cli

LOCKLESS, LOCKING = "0.146.0", "0.171.0"
_missing = missing_reason(LOCKLESS) or missing_reason(LOCKING)
needs_both = pytest.mark.skipif(_missing is not None, reason=f"codex releases not installed: {_missing}")


def _seen(listed=True, read="ok") -> Seen:
    rel = "sessions/2025/01/03/rollout-2025-01-03T12-00-00-0199a213-81c0-7800-8aa1-bbab2a035a53.jsonl"
    return Seen(rel, (rel + ".zst",), listed, read, "ok", (rel,))


def test_a_loss_outranks_blindness_and_an_untold_hold_is_inconclusive():
    lost, kept, untold = Hold("compressed", False), Hold("skipped_busy", True), Hold("skipped_not_cold", None)
    assert judge((_seen(listed=False),), lost, {})[0] == LOSES_WRITES
    assert judge((_seen(read="-32603 stream did not contain valid UTF-8"),), kept, {})[0] == CANNOT_SEE
    assert judge((_seen(),), kept, {})[0] == SAFE
    assert judge((_seen(),), untold, {})[0] == "inconclusive"
    assert judge((_seen(),), kept, {"status": "violation", "classes": ["lost_line"]})[0] == LOSES_WRITES


@needs_both
@pytest.mark.parametrize("compressor, outcome, kept", [
    (f"codex:{LOCKING}", "compressed", False),  # probes only its own writer locks: the session's line is lost
    ("reference:inode-flock", "compressed", False),  # probes only the inode lock: lost too
    ("reference", "skipped_busy", True),  # finds the session's descriptor in /proc (COORD-013)
])
def test_a_lockless_release_holding_a_session_while_another_compresses(tmp_path, compressor, outcome, kept):
    hold = hold_then_compress(f"codex:{LOCKLESS}", compressor, str(tmp_path / "home"), 60)
    assert (hold.outcome, hold.kept) == (outcome, kept), hold
    assert bool(hold.line_in) == kept and set(hold.line_in) <= set(hold.representations)


@needs_both
def test_the_versions_command_writes_a_matrix_that_follows_its_schema(tmp_path):
    report = tmp_path / "versions.json"
    done = cli("versions", LOCKLESS, LOCKING, "--json", str(report), "--markdown", str(tmp_path / "v.md"),
               "--html", str(tmp_path / "v.html"), "--bundle-dir", str(tmp_path / "bundles"),
               "--workdir", str(tmp_path / "work"), timeout=900)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]  # a pair loses writes
    data = json.loads(report.read_text())
    validate_report(data, "versions-report")
    verdicts = {(p["session"], p["compressor"]): p["verdict"] for p in data["pairs"]}
    assert verdicts[(f"codex:{LOCKLESS}", f"codex:{LOCKING}")] == LOSES_WRITES
    assert verdicts[(f"codex:{LOCKLESS}", "reference")] == SAFE
    assert verdicts[(f"codex:{LOCKING}", f"codex:{LOCKING}")] == SAFE
    assert f"| codex:{LOCKLESS} | loses writes | safe |" in (tmp_path / "v.md").read_text()
    lost = next(p for p in data["pairs"] if p["verdict"] == LOSES_WRITES)
    assert lost["bundle"] and f'href="bundles/{os.path.basename(lost["bundle"])}/"' in (tmp_path / "v.html").read_text()
