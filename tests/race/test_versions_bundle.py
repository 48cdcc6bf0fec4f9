"""A line the ``versions`` hold experiment lost leaves a bundle, and ``versions --replay`` reruns it.

The test on real releases needs ``rollout-conformance codex install 0.146.0 0.171.0`` (``.ci/run``
does it); without them it skips and says so.  0.146.0's sessions take no writer lock; 0.171.0
compresses the rollout such a session holds open, and the session's next line is lost.
"""

from __future__ import annotations

import json
import os

import pytest

from conformance.reports.json_report import validate_report
from conformance.stores.codex.install import missing_reason
from helpers.cli import cli, one_line_usage_error

LOCKLESS, LOCKING = "0.146.0", "0.171.0"
_missing = missing_reason(LOCKLESS) or missing_reason(LOCKING)
needs_both = pytest.mark.skipif(_missing is not None, reason=f"codex releases not installed: {_missing}")


@needs_both
def test_a_lost_hold_line_leaves_a_bundle_that_replay_reproduces(tmp_path):
    report, bundles = tmp_path / "versions.json", tmp_path / "bundles"
    done = cli("versions", LOCKLESS, "--compressor", f"codex:{LOCKING}", "--bundle-dir", str(bundles),
               "--json", str(report), "--workdir", str(tmp_path / "work"), timeout=600)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    data = json.loads(report.read_text())
    validate_report(data, "versions-report")
    (pair,) = data["pairs"]
    assert pair["verdict"] == "loses writes" and pair["hold"]["kept"] is False
    folder = pair["bundle"]
    assert os.path.dirname(folder) == str(bundles) and f"--replay {folder}" in done.stdout

    bundle = json.loads(open(os.path.join(folder, "bundle.json")).read())
    assert (bundle["kind"], bundle["session"], bundle["compressor"]) == (
        "versions-hold", f"codex:{LOCKLESS}", f"codex:{LOCKING}")
    assert bundle["stores"][f"codex:{LOCKLESS}"]["facts"]["printed"] == f"codex-cli {LOCKLESS}"
    assert bundle["stores"][f"codex:{LOCKING}"]["facts"]["has_compress"] is True
    assert bundle["outcome"] == "compressed" and bundle["disk"]["line_in"] == []
    (compressed,) = bundle["disk"]["representations"]
    assert compressed == bundle["disk"]["rollout"] + ".zst"
    assert os.path.isfile(os.path.join(folder, "home", compressed))  # the home after the experiment
    command = open(os.path.join(folder, "command.txt")).read().strip()
    assert command == bundle["command"] and command in open(os.path.join(folder, "README.txt")).read()

    replayed = cli("versions", "--replay", folder, "--workdir", str(tmp_path / "replay"), timeout=300)
    assert replayed.returncode == 1, replayed.stdout + replayed.stderr
    assert replayed.stdout.startswith("reproduced:") and "the loss is real" in replayed.stdout

    # the same bundle with the default reference as compressor: its pass skips the held rollout as busy
    bundle["compressor"] = "reference"
    other = tmp_path / "kept"
    other.mkdir()
    (other / "bundle.json").write_text(json.dumps(bundle))
    kept = cli("versions", "--replay", str(other), "--workdir", str(tmp_path / "replay-kept"), timeout=300)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert kept.stdout.startswith("not reproduced:") and "skipped_busy" in kept.stdout


def test_replay_refuses_a_missing_or_foreign_bundle_with_the_fix(tmp_path):
    assert "bundle.json does not exist" in one_line_usage_error(cli("versions", "--replay", str(tmp_path / "none")))
    (tmp_path / "bundle.json").write_text(json.dumps({"kind": "scenario"}))
    assert "not a hold bundle" in one_line_usage_error(cli("versions", "--replay", str(tmp_path)))
    (tmp_path / "bundle.json").write_text("{not json")
    assert "cannot read" in one_line_usage_error(cli("versions", "--replay", str(tmp_path)))
    (tmp_path / "bundle.json").write_text(json.dumps({"kind": "versions-hold", "session": "codex:0.146.0"}))
    assert "lacks compressor, stores, timeout, outcome" in one_line_usage_error(
        cli("versions", "--replay", str(tmp_path / "bundle.json")))
    (tmp_path / "bundle.json").write_text(json.dumps({"kind": "versions-hold", "session": "codex:0.146.0",
                                                      "compressor": "reference", "stores": {}, "timeout": "soon",
                                                      "outcome": "compressed"}))
    assert "malformed timeout" in one_line_usage_error(cli("versions", "--replay", str(tmp_path)))


def test_replay_of_a_bundle_whose_release_is_not_installed_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("ROLLOUT_CONFORMANCE_CODEX_DIR", str(tmp_path / "no-installs"))
    bundle = {"kind": "versions-hold", "session": "codex:0.99.0", "compressor": "reference", "timeout": 60,
              "outcome": "compressed", "stores": {"codex:0.99.0": {"name": "codex", "version": "codex-cli 0.99.0"}}}
    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    line = one_line_usage_error(cli("versions", "--replay", str(tmp_path)))
    assert "codex:0.99.0 cannot run here" in line and "rollout-conformance codex install 0.99.0" in line
