"""reader-check on published readers of ~/.codex (docs/reader-check.md, "Published readers"): needs downloads,
so it runs only with ROLLOUT_PUBLISHED_READERS=1 (`tox -e published`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("ROLLOUT_PUBLISHED_READERS") != "1",
                                reason="downloads agent-history 0.10.0 and codex-stat 0.1.1 from PyPI: set "
                                       "ROLLOUT_PUBLISHED_READERS=1 (tox -e published)")


def install(tmp_path, requirement: str, program: str):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run([str(venv / "bin/pip"), "install", "-q", requirement], capture_output=True, text=True)
    if installed.returncode != 0:
        pytest.skip(f"{requirement} could not be installed: {installed.stderr.strip()[-300:]}")
    return venv / "bin" / program


def reader_check(tmp_path, *cmds: str) -> tuple[subprocess.CompletedProcess, dict]:
    report = tmp_path / "report.json"
    argv = [sys.executable, "-m", "conformance.cli", "reader-check", "--scope", "sessions", "--count", "40",
            "--lookups", "1", "--case", "cold-zst", "--report", str(report)]
    for cmd in cmds:
        argv += ["--cmd", cmd]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    return out, json.loads(report.read_text())


def test_agent_history_loses_compressed_sessions_and_crashes_on_a_zst_path(tmp_path):
    tool = install(tmp_path, "agent-history==0.10.0", "agent-history")
    out, report = reader_check(tmp_path, f"{tool} list --source codex -n 1000", f"{tool} view {{path}}")
    assert out.returncode == 1, out.stdout + out.stderr
    titles = [f["title"] for f in report["findings"]]
    assert any("sessions disappear once compressed" in t and "read on stdout" in t for t in titles), titles
    assert any(t.startswith("crashes once compressed: UnicodeDecodeError") for t in titles), titles


def test_codex_stat_is_judged_on_its_numbers_and_with_json_on_its_sessions(tmp_path):
    # Its text report is a table of sessions by time and cwd, none named: judged on its numbers, said so.
    tool = install(tmp_path, "codex-stat==0.1.1", "codex-stat")
    command = f"{tool} --range all --limit 1000 --timezone UTC"
    out, report = reader_check(tmp_path, command)
    assert out.returncode == 1, out.stdout + out.stderr
    assert report["baseline"][command]["reading"].startswith("could not interpret the sessions in its output")
    (finding,) = report["findings"]
    assert finding["title"].startswith("the numbers printed change once compressed")
    # The hint's --json names every session: the same loss, counted in sessions.
    (tmp_path / "report.json").unlink()
    out, report = reader_check(tmp_path, command + " --json")
    assert out.returncode == 1, out.stdout + out.stderr
    (finding,) = report["findings"]
    assert "sessions disappear once compressed" in finding["title"], finding["title"]
