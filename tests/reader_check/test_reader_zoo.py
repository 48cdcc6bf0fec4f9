"""reader-check on the zoo of reader shapes (tests/doubles/reader_zoo.py): each verdict is the one a careful
human reaches by running the tool before and after compression and reading both outputs.

Each run is a real process tree over a real generated home (14 sessions, 11 of them cold); the
"by hand" verdict is written beside each test.
"""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import TESTS

ZOO = f"{sys.executable} {TESTS / 'doubles' / 'reader_zoo.py'}"
COLD = 11  # of the 14 sessions of seed 0, cold ones (compressed in cold-zst)


def check(tmp_path, *cmds: str, cases=("cold-zst",), env: str = "") -> tuple[subprocess.CompletedProcess, dict]:
    report = tmp_path / "report.json"
    argv = [sys.executable, "-m", "conformance.cli", "reader-check", "--count", "14", "--large-mb", "0.3",
            "--report", str(report)] + (["--env", env] if env else [])
    for cmd in cmds:
        argv += ["--cmd", f"{ZOO} {cmd}"]
    for case in cases:
        argv += ["--case", case]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    return out, (json.loads(report.read_text()) if report.exists() else {})


def test_truncated_ids_are_recognised_and_their_loss_found(tmp_path):
    # By hand: the listing shows 14 rows, ids as their last 12 hex digits; after compression 3 rows.
    out, report = check(tmp_path, "--mode plain-only short-ids")
    assert out.returncode == 1, out.stdout + out.stderr
    (base,) = report["baseline"].values()
    assert base["sessions_seen"] == 14 and base["sessions_seen_by_stream"] == {"stdout": 14, "stderr": 0}
    (finding,) = report["findings"]
    assert finding["title"].startswith(f"{COLD} of 14 sessions disappear once compressed")
    assert "read on stdout" in finding["title"]
    assert "rerun with --keep DIR" in finding["detail"]  # its examples cite files in a removed folder


def test_truncated_ids_of_a_correct_reader_pass(tmp_path):
    # By hand: the same 14 rows before and after.
    out, report = check(tmp_path, "--mode zst short-ids")
    assert out.returncode == 0, out.stdout + out.stderr
    assert report["findings"] == [] and report["baseline"][f"{ZOO} --mode zst short-ids"]["sessions_seen"] == 14


def test_a_timing_line_is_noise_not_a_finding(tmp_path):
    # By hand: every run ends "Scanned 14 files in NNNms (run <hex>, at HH:MM:SS)"; only the time varies.
    out, report = check(tmp_path, "--mode zst timing", cases=("cold-zst", "stale-temps"))
    assert out.returncode == 0, out.stdout + out.stderr
    (base,) = report["baseline"].values()
    assert base["baseline_runs"] >= 3
    assert "`Scanned # files in #ms (run <hex>, at #:#:#)` (stdout)" in base["noise_ignored"]
    assert "ignored as varying between identical runs" in out.stdout


def test_noise_that_drifts_during_the_check_is_learnt_by_the_control_run(tmp_path):
    # By hand: "generated at minute 0" in the first runs, "minute 1" later, on the same home: a clock.
    out, report = check(tmp_path, "--mode zst drift", env=f"ZOO_RUNS={tmp_path / 'runs'}")
    assert out.returncode == 0, out.stdout + out.stderr
    (base,) = report["baseline"].values()
    assert "`generated at minute #` (stdout)" in base["noise_ignored"]
    assert base["baseline_runs"] == 4  # 3 identical runs, then the control after the last case


def test_a_timing_line_does_not_hide_a_loss(tmp_path):
    # By hand: 11 of the 14 sessions vanish and "Scanned 14 files" becomes "Scanned 3 files": one cause.
    out, report = check(tmp_path, "--mode plain-only timing")
    assert out.returncode == 1, out.stdout + out.stderr
    (finding,) = report["findings"]
    assert finding["title"].startswith(f"{COLD} of 14 sessions disappear once compressed")
    assert "largest number" not in finding["title"]


def test_counts_on_stderr_are_read_and_labelled(tmp_path):
    # By hand: stderr says "Found 14 session file(s)", then "Found 3"; the token total on stdout drops too.
    out, report = check(tmp_path, "--mode plain-only counts")
    assert out.returncode == 1, out.stdout + out.stderr
    (finding,) = report["findings"]
    assert finding["title"].startswith("the numbers printed change once compressed")
    assert "read on stdout and stderr" in finding["title"]
    assert "stderr before: Found 14 session file(s)" in finding["examples"]
    assert f"stderr after: Found {14 - COLD} session file(s)" in finding["examples"]
    (base,) = report["baseline"].values()
    assert base["reading"].startswith("names no session (a summary)")


def test_counts_of_a_correct_reader_pass(tmp_path):
    out, report = check(tmp_path, "--mode zst counts")
    assert out.returncode == 0, out.stdout + out.stderr


def test_per_session_totals_that_drop_to_zero_are_a_finding(tmp_path):
    # By hand: `report <file>.jsonl.zst` prints "0 calls, 0 tokens, $0.00" where the plain file gave
    # "13 calls, 274,101 tokens, $0.34", exit 0 both times.
    out, report = check(tmp_path, "--mode plain-only report {path}", cases=("cold-zst", "both-plain-wins"))
    assert out.returncode == 1, out.stdout + out.stderr
    (finding,) = report["findings"]
    assert "lookups of one session once compressed print different numbers" in finding["title"]
    assert "exit 0 -> 0" in finding["title"] and finding["cases"] == ["cold-zst"]
    assert any(e.startswith("stdout after: 0 calls, 0 tokens, $0.00") for e in finding["detail"].splitlines())
    assert any(e.startswith("stdout before: ") for e in finding["detail"].splitlines())


def test_per_session_totals_of_a_correct_reader_pass(tmp_path):
    out, _ = check(tmp_path, "--mode zst report {path}", cases=("cold-zst", "both-plain-wins"))
    assert out.returncode == 0, out.stdout + out.stderr


def test_json_output_is_read(tmp_path):
    # By hand: the JSON array holds 14 objects before, 3 after.
    out, report = check(tmp_path, "--mode plain-only json")
    assert out.returncode == 1, out.stdout + out.stderr
    assert report["findings"][0]["title"].startswith(f"{COLD} of 14 sessions disappear once compressed")


def test_rows_that_name_no_session_are_judged_on_their_numbers_and_say_so(tmp_path):
    # By hand: 14 numbered rows of dates and tokens, the same after compression: nothing was lost, though
    # which row is which session cannot be told; the report says its sessions could not be recognised.
    out, report = check(tmp_path, "--mode zst opaque")
    assert out.returncode == 0, out.stdout + out.stderr
    (base,) = report["baseline"].values()
    assert base["reading"].startswith("could not interpret the sessions in its output: 14 lines for 14 sessions")
    assert "--json" in base["reading"] and base["first_lines"][0].startswith("stdout: #1")
    assert "0 of 14" not in out.stdout and "  | stdout: #1" in out.stdout


def test_the_hinted_json_output_makes_it_judgeable(tmp_path):
    out, report = check(tmp_path, "--mode zst opaque --json")
    assert out.returncode == 0, out.stdout + out.stderr
    assert report["baseline"][f"{ZOO} --mode zst opaque --json"]["sessions_seen"] == 14


def test_an_opaque_listing_that_loses_rows_still_fails_on_its_numbers(tmp_path):
    # By hand: 14 rows become 3: lost, whatever the rows were.
    out, report = check(tmp_path, "--mode plain-only opaque")
    assert out.returncode == 1, out.stdout + out.stderr
    assert report["findings"][0]["title"].startswith("the numbers printed change once compressed")
    assert any(e.startswith("stdout before: #") for e in report["findings"][0]["examples"])
    assert report["inconclusive"] == []


def test_output_about_nothing_is_could_not_interpret(tmp_path):
    # By hand: "ok", whatever the home holds.
    out, report = check(tmp_path, "silent")
    assert out.returncode == 3, out.stdout + out.stderr
    assert report["inconclusive"][0].startswith("could not interpret the output of")
    assert "First lines seen:\nstdout: ok" in report["inconclusive"][0]
