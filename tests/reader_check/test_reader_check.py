"""`rollout-conformance reader-check` run as a user runs it, on the small reader the project ships.

Each run is a real process tree: reader-check builds a real home, runs the reader
(tests/doubles/sessions.py) over it and over every hard case, and judges.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from helpers import TESTS

READER = f"{sys.executable} {TESTS / 'doubles' / 'sessions.py'}"


def reader_check(tmp_path, mode: str, *extra: str, lookups: bool = True) -> tuple[subprocess.CompletedProcess, dict]:
    report = tmp_path / "report.json"
    cmds = ["--cmd", f"{READER} --mode {mode} list"]
    if lookups:
        cmds += ["--cmd", f"{READER} --mode {mode} show {{id}}"]
    out = subprocess.run([sys.executable, "-m", "conformance.cli", "reader-check", *cmds, "--count", "14",
                          "--large-mb", "0.3", "--lookups", "1", "--report", str(report), *extra],
                         capture_output=True, text=True, timeout=600)
    return out, (json.loads(report.read_text()) if report.exists() else {})


def test_a_reader_of_both_representations_passes(tmp_path):
    out, report = reader_check(tmp_path, "zst", "--junitxml", str(tmp_path / "junit.xml"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert report["verdict"] == "passed" and report["findings"] == []
    assert "verdict: PASSED (exit 0)" in out.stdout
    assert set(report["requirements"].values()) == {"passed"} and "READ-005" in report["requirements"]
    cases = ET.parse(tmp_path / "junit.xml").getroot().findall("testcase")
    assert {c.get("name") for c in cases} >= {"cold-zst", "multi-frame", "skippable-frame", "both-plain-wins",
                                              "stale-temps", "read-only", "large-rollout"}
    assert not any(c.find("failure") is not None for c in cases)


def test_a_reader_that_ignores_zst_is_one_finding(tmp_path):
    out, report = reader_check(tmp_path, "plain-only", "--junitxml", str(tmp_path / "junit.xml"))
    assert out.returncode == 1, out.stdout + out.stderr
    cold = len(report["cases"]["cold-zst"]["changed"])
    assert len(report["findings"]) == 1, report["findings"]
    finding = report["findings"][0]
    assert finding["title"].startswith(f"{cold} of 14 sessions disappear once compressed")
    assert set(finding["requirements"]) == {"DISC-001", "READ-002", "DISC-005"}  # lookups by id fail too
    assert {"cold-zst", "multi-frame", "archived-zst", "read-only"} <= set(finding["cases"])
    assert "both-plain-wins" not in finding["cases"] and "stale-temps" not in finding["cases"]
    assert finding["examples"] and finding["examples"][0] in report["cases"]["cold-zst"]["changed"]
    assert "looking them up fails too" in finding["detail"]
    assert report["requirements"]["DISC-001"] == "failed" and report["requirements"]["DISC-002"] == "passed"
    failed = [c for c in ET.parse(tmp_path / "junit.xml").getroot().findall("testcase") if c.find("failure") is not None]
    assert "cold-zst" in {c.get("name") for c in failed}


def test_handed_a_zst_path_a_plain_reader_crashes_with_its_traceback(tmp_path):
    out, report = reader_check(tmp_path, "plain-only", "--cmd", f"{READER} --mode plain-only show {{path}}",
                               "--case", "cold-zst", "--case", "both-plain-wins", lookups=False)
    assert out.returncode == 1, out.stdout + out.stderr
    crash = next(f for f in report["findings"] if f["title"].startswith("crashes"))
    assert crash["requirements"] == ["ERR-001", "NAME-001", "READ-002"] and crash["cases"] == ["cold-zst"]
    assert "| UnicodeDecodeError: 'utf-8' codec can't decode byte 0xb5" in out.stdout
    assert ".jsonl.zst" in crash["examples"][0]


def test_a_first_frame_decoder_fails_only_the_multi_frame_cases(tmp_path):
    out, report = reader_check(tmp_path, "first-frame", lookups=False)
    assert out.returncode == 1, out.stdout + out.stderr
    by_case = {case for f in report["findings"] for case in f["cases"]}
    assert by_case == {"multi-frame", "skippable-frame"}
    assert all(f["requirements"] == ["READ-005"] for f in report["findings"])
    assert report["cases"]["cold-zst"]["result"] == "same information as before"


def test_a_crash_shows_the_traceback_last_lines(tmp_path):
    out, report = reader_check(tmp_path, "text")
    assert out.returncode == 1, out.stdout + out.stderr
    crashes = [f for f in report["findings"] if f["title"].startswith("crashes once compressed")]
    assert len(crashes) == 1, report["findings"]  # one exception from two commands and many cases: one finding
    assert "UnicodeDecodeError" in crashes[0]["title"] and "ERR-001" in crashes[0]["requirements"]
    assert "| UnicodeDecodeError: 'utf-8' codec can't decode" in out.stdout
    temps = [f for f in report["findings"] if f["cases"] == ["stale-temps"]]
    assert temps and temps[0]["requirements"] == ["DISC-002"]  # it lists temps as sessions


def test_a_hanging_reader_is_inconclusive(tmp_path):
    out, report = reader_check(tmp_path, "hang", "--timeout", "3", "--case", "cold-zst", "--case", "stale-temps",
                               lookups=False)
    assert out.returncode == 3, out.stdout + out.stderr
    assert report["verdict"] == "inconclusive" and report["findings"] == []
    assert "hangs: killed after 3 s" in report["inconclusive"][0]
    assert report["requirements"] == {"DISC-001": "inconclusive", "DISC-002": "passed", "READ-002": "inconclusive"}
    assert report["cases"]["stale-temps"]["result"] == "same information as before"


def test_a_tool_that_prints_nothing_about_the_home_is_inconclusive(tmp_path):
    out, _ = reader_check(tmp_path, "zst", "--case", "cold-zst", "--env", "CODEX_HOME={user_home}/elsewhere",
                          lookups=False)
    assert out.returncode == 3, out.stdout + out.stderr
    assert "could not interpret the output of" in out.stdout and "it names none of the 14 sessions" in out.stdout
    assert "First lines seen:\nstdout: 0 sessions, 0 tokens" in out.stdout and "--json" in out.stdout


def test_a_tool_that_deletes_what_it_reads_breaks_read_003(tmp_path):
    report = tmp_path / "report.json"
    deleter = "sh -c 'find {home} -name \"*.jsonl.zst\" | xargs -r rm; find {home} -name \"rollout-*\" | sort'"
    out = subprocess.run([sys.executable, "-m", "conformance.cli", "reader-check", "--cmd", deleter, "--count", "8",
                          "--large-mb", "0", "--case", "cold-zst", "--report", str(report)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stdout + out.stderr
    changed = [f for f in json.loads(report.read_text())["findings"] if f["requirements"] == ["READ-003"]]
    assert len(changed) == 1 and changed[0]["cases"] == ["cold-zst"]
    assert all(e.endswith(".jsonl.zst") for e in changed[0]["examples"])


@pytest.mark.parametrize("args, message", [
    (["--cmd", "tool {nope}"], "unknown placeholder {nope}"),
    (["--cmd", "tool", "--env", "JUSTANAME"], "write NAME=VALUE"),
    (["--cmd", "/nonexistent/reader list"], "cannot start"),
])
def test_usage_errors_exit_2(args, message):
    out = subprocess.run([sys.executable, "-m", "conformance.cli", "reader-check", "--count", "6",
                          "--large-mb", "0", *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and message in out.stderr, out.stderr


@pytest.mark.parametrize("option, value", [
    ("--timeout", "-1"), ("--timeout", "0"), ("--timeout", "nan"), ("--lookups", "-1"), ("--lookups", "0"),
    ("--large-mb", "-5"), ("--count", "3"), ("--seed", "-1"), ("--baseline-runs", "2"),
])
def test_every_numeric_option_out_of_range_exits_2_before_any_work(tmp_path, option, value):
    keep = tmp_path / "kept"
    out = subprocess.run([sys.executable, "-m", "conformance.cli", "reader-check", "--cmd", f"{READER} list",
                          "--keep", str(keep), option, value], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.count("\n") == 1 and out.stderr.startswith(f"reader-check: {option} {value}: must be between")
    assert not keep.exists() and out.stdout == ""  # no home built, nothing run


def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode)
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_one_seed_gives_byte_identical_homes_mtimes_included(tmp_path):
    homes = []
    for n in (1, 2):
        keep = tmp_path / f"kept{n}"
        out = subprocess.run([sys.executable, "-m", "conformance.cli", "reader-check", "--cmd",
                              f"{READER} --mode plain-only list", "--count", "8", "--large-mb", "0", "--seed", "7",
                              "--case", "cold-zst", "--case", "stale-temps", "--keep", str(keep)],
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 1, out.stdout + out.stderr
        homes.append(keep)
    for part in ("pristine", "cases/cold-zst/.codex", "cases/stale-temps/.codex"):
        first, second = _tree(homes[0] / part), _tree(homes[1] / part)
        assert first and first == second, part
    assert (homes[0] / "manifest.json").read_text().replace("kept1", "kept2") == \
        (homes[1] / "manifest.json").read_text()


def test_with_keep_a_finding_says_where_the_files_it_cites_are(tmp_path):
    keep = tmp_path / "kept"
    report = tmp_path / "report.json"
    out = subprocess.run([sys.executable, "-m", "conformance.cli", "reader-check", "--cmd",
                          f"{READER} --mode plain-only show {{path}}", "--count", "8", "--large-mb", "0",
                          "--case", "cold-zst", "--keep", str(keep), "--report", str(report)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stdout + out.stderr
    (crash,) = json.loads(report.read_text())["findings"]
    assert f"kept with --keep: each case's home is {keep / 'cases'}/CASE/.codex" in crash["detail"]
    cited = crash["examples"][0].split(" show ")[1].split(" -> ")[0]
    kept_file = Path(cited.replace(str(keep / "run"), str(keep / "cases" / "cold-zst")))
    assert cited.endswith(".jsonl.zst") and kept_file.is_file()


def test_a_stem_lookup_gets_the_file_name_without_its_extension(tmp_path):
    report = tmp_path / "report.json"
    out = subprocess.run([sys.executable, "-m", "conformance.cli", "reader-check", "--cmd", "echo {stem}",
                          "--count", "8", "--large-mb", "0", "--case", "cold-zst", "--report", str(report)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr  # the stem names the session before and after
    runs = json.loads(report.read_text())["runs"]
    assert runs and all(os.path.basename(r["argv"][1]).startswith("rollout-") and r["argv"][1].endswith(r["rollout"])
                        for r in runs)
