"""Issue 14, item 3: SIGTERM and SIGINT stop every child within a bounded time, say what finished and
where the work folder is, exit 4; work folders go after a passing run and stay, named, otherwise."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from helpers.cli import cli, processes_of_run
from conformance.runtime.interrupts import RUN_ENV
from conformance.reports.json_report import validate_report

#: Generous bounds: they only keep a broken run from hanging the test session, they judge nothing.
START_BOUND_SECONDS = 120
STOP_BOUND_SECONDS = 60


def _start(tmp_path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, TMPDIR=str(tmp_path))
    env.pop(RUN_ENV, None)
    return subprocess.Popen([sys.executable, "-m", "conformance.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)


def _wait_for_children(proc: subprocess.Popen, count: int) -> list[int]:
    deadline = time.monotonic() + START_BOUND_SECONDS
    while time.monotonic() < deadline and proc.poll() is None:
        found = processes_of_run(proc.pid, RUN_ENV)
        if len(found) >= count:
            return found
        time.sleep(0.2)
    out, err = proc.communicate(timeout=STOP_BOUND_SECONDS) if proc.poll() is not None else ("", "")
    raise AssertionError(f"the run never started {count} children:\n{out[-2000:]}\n{err[-2000:]}")


def _stopped(proc: subprocess.Popen, sig: int) -> tuple[str, str]:
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=STOP_BOUND_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(f"still running {STOP_BOUND_SECONDS} s after {signal.Signals(sig).name}") from None
    return out, err


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except OSError:
        return False


def _left_over(pid: int, seen_before: list[int]) -> list[int]:
    """Processes of the run still alive: those seen while it ran (re-parented or not), and token holders."""
    deadline = time.monotonic() + STOP_BOUND_SECONDS
    while time.monotonic() < deadline:
        left = sorted({p for p in seen_before if _alive(p)} | set(processes_of_run(pid, RUN_ENV)))
        if not left:
            return []
        time.sleep(0.2)
    return left


def test_sigterm_stops_a_random_campaign_and_every_actor(tmp_path):
    """Before: SIGTERM to `race --random` left every actor running until its own deadline."""
    report = tmp_path / "race.json"
    proc = _start(tmp_path, "race", "--store", "reference", "--random", "--seconds", "300", "--writers", "3",
                  "--report", str(report), "--bundle-dir", str(tmp_path / "bundles"))
    children = _wait_for_children(proc, 3)
    out, err = _stopped(proc, signal.SIGTERM)
    assert proc.returncode == 4, f"exit {proc.returncode}\n{out[-2000:]}\n{err[-2000:]}"
    assert "Traceback" not in err, err[-3000:]
    assert "race: interrupted (interrupted after 0 of 1 run(s)" in out, out[-2000:]
    kept = [line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("work folder kept")]
    assert kept and os.path.isdir(kept[0]) and kept[0].startswith(str(tmp_path)), out[-2000:]
    data = json.loads(report.read_text())
    assert data["interrupted"] is True and data["status"] == "interrupted"
    validate_report(data, "race-report")
    assert not _left_over(proc.pid, children), "children of the run still alive"


def test_sigint_stops_the_suite_and_its_pytest_workers(tmp_path):
    """Ctrl-C (SIGINT to the command alone, as a CI runner may send it): partial report, exit 4."""
    report = tmp_path / "suite.json"
    proc = _start(tmp_path, "suite", "--store", "reference", "--report", str(report), "--", "-n", "2", "-q")
    _wait_for_children(proc, 2)  # both pytest workers are up
    time.sleep(3)  # let them start on tests; the verdicts are what finished, however few
    children = processes_of_run(proc.pid, RUN_ENV)
    out, err = _stopped(proc, signal.SIGINT)
    assert proc.returncode == 4, f"exit {proc.returncode}\n{out[-3000:]}\n{err[-2000:]}"
    data = json.loads(report.read_text())
    assert data["interrupted"] is True and data["status"] == "interrupted"
    assert "interrupted: partial" in out
    assert out.strip().splitlines()[-1].startswith("suite: interrupted"), out[-1000:]
    assert not _left_over(proc.pid, children), "pytest workers of the suite still alive"


def test_work_folder_removed_after_a_pass_kept_and_named_after_a_violation(tmp_path):
    """Before: every race and check run left its work folder behind (up to 157 MB), passing or not."""
    env = dict(os.environ, TMPDIR=str(tmp_path))
    passed = cli("race", "--store", "reference", "--scenario", "r1-write-between-stats", env=env)
    assert passed.returncode == 0, passed.stdout[-2000:] + passed.stderr[-2000:]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("race-")], "the passing run left its folder"
    failed = cli("race", "--store", "mutant:append-to-zst", "--scenario", "r4-append-after-unlink",
                 "--bundle-dir", str(tmp_path / "bundles"), env=env)
    assert failed.returncode == 1, failed.stdout[-2000:]
    kept = [line for line in failed.stdout.splitlines() if line.startswith("work folder kept (the run ended violation)")]
    assert kept and os.path.isdir(kept[0].split(": ", 1)[1])
    kept_too = cli("race", "--store", "reference", "--scenario", "r1-write-between-stats", "--keep", env=env)
    assert "work folder kept (as asked)" in kept_too.stdout


def test_sigterm_during_check_prints_the_partial_table_and_keeps_the_folder(tmp_path):
    """Before: Ctrl-C gave a 30-line traceback, no partial verdict, and no word on the work folder."""
    proc = _start(tmp_path, "check")  # the full profile: its suite runs long enough to be interrupted
    seen = []
    for line in proc.stdout:  # the first progress line comes while the suite runs
        seen.append(line)
        if line.startswith("suite: running"):
            break
    children = processes_of_run(proc.pid, RUN_ENV)
    out, err = _stopped(proc, signal.SIGTERM)
    out = "".join(seen) + out
    assert proc.returncode == 4, f"exit {proc.returncode}\n{out[-3000:]}\n{err[-2000:]}"
    assert "check: interrupted: the table above is partial" in out and "READ-001" in out
    kept = [line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("work folder kept")]
    assert kept and os.path.isdir(kept[0]) and os.path.exists(os.path.join(kept[0], "suite.log"))
    assert "Traceback" not in err
    assert not _left_over(proc.pid, children), "children of check still alive"


def _kept_folder(out: str) -> str:
    kept = [line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("work folder kept")]
    assert kept, f"no 'work folder kept' line:\n{out[-2000:]}"
    return kept[0]


def test_sigint_stops_interop_and_prints_the_partial_matrix(tmp_path):
    """Before: Ctrl-C to `interop` gave a traceback, left its actors running and printed no matrix."""
    report = tmp_path / "interop.json"
    proc = _start(tmp_path, "interop", "--stores", "reference,reference:inode-flock", "--no-scenarios",
                  "--seconds", "300", "--json", str(report), "--bundle-dir", str(tmp_path / "bundles"))
    children = _wait_for_children(proc, 3)  # the first pair's campaign actors are up
    out, err = _stopped(proc, signal.SIGINT)
    assert proc.returncode == 4, f"exit {proc.returncode}\n{out[-2000:]}\n{err[-2000:]}"
    assert "Traceback" not in err, err[-3000:]
    assert "interop: interrupted after 0 of 4 cells; the matrix above is partial" in out, out[-2000:]
    assert out.count("not run (interrupted)") == 4, out[-2000:]
    data = json.loads(report.read_text())
    assert data["interrupted"] is True and data["status"] == "interrupted"
    assert {c["status"] for c in data["cells"]} == {"not_run"}, data["cells"]
    assert os.path.isdir(_kept_folder(out)) and _kept_folder(out).startswith(str(tmp_path))
    assert not _left_over(proc.pid, children), "actors of interop still alive"


#: Mutants whose quick suite runs are short, so the reference row comes first and several remain.
_SELFTEST_MUTANTS = ("reader-prefers-zst", "lists-temps", "loses-mode", "cleanup-by-age", "compresses-fresh",
                     "lists-both-representations")


def test_sigterm_stops_selftest_and_prints_the_partial_table(tmp_path):
    """Before: SIGTERM to `selftest` printed no verdict, named no work folder and exited 1 after a
    pool of suite runs it could not cancel."""
    report = tmp_path / "selftest.json"
    proc = _start(tmp_path, "selftest", "--quick", "--no-race", "--jobs", "1", "--report", str(report),
                  "--only", *_SELFTEST_MUTANTS)
    seen = []
    for line in proc.stdout:  # the reference's row is judged first; the mutants' runs follow one by one
        seen.append(line)
        if line.split()[1:2] == ["reference"]:
            break
    children = processes_of_run(proc.pid, RUN_ENV)
    out, err = _stopped(proc, signal.SIGTERM)
    out = "".join(seen) + out
    assert proc.returncode == 4, f"exit {proc.returncode}\n{out[-3000:]}\n{err[-2000:]}"
    assert "Traceback" not in err, err[-3000:]
    assert "selftest: interrupted: the table above is partial" in out, out[-2000:]
    data = json.loads(report.read_text())
    assert data["interrupted"] is True and data["ok"] is False
    assert data["rows"][0]["name"] == "reference" and len(data["rows"]) < len(_SELFTEST_MUTANTS) + 1
    folder = _kept_folder(out)
    assert os.path.isdir(folder) and folder.startswith(str(tmp_path))
    assert not _left_over(proc.pid, children), "suite runs of selftest still alive"
