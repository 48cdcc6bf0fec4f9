"""``rollout-conformance report``: one page from the suite reports of several stores.

Real suite runs (a few tests each, to stay quick) against the reference, two mutants and the
reader-only Perl adapter feed the page; the cells must say what each store did: the mutant that
prefers the .zst fails READ-001, the unlocked compressor fails COORD-001, the reader-only adapter
is skipped there with its reason; the HTML page renders in headless chromium without script errors.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from conformance.reports import html as html_report
from conformance.api import requirements
from conformance.reports.loader import ReportError, load
from helpers.page_dom import rendered

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUBSET = "test_plain_wins_when_both_exist or test_writer_handle_holds_a_shared_lock"
STORES = {
    "reference": "reference",
    "prefers-zst": "mutant:reader-prefers-zst",
    "unlocked": "mutant:upstream-stat-recheck",
    "perl-reader": "cmd:perl conformance/stores/adapters/reader.pl",
}


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, str]:
    """Suite reports of the four stores on a few tests, made once for every xdist worker."""
    if not (shutil.which("perl") and shutil.which("zstd")):
        pytest.skip("the reader-only adapter needs perl and the zstd CLI (.ci/run installs zstd with apt)")
    # the parent of a worker's basetemp is shared by all workers of this run
    folder = tmp_path_factory.getbasetemp().parent / "suite-reports"
    folder.mkdir(exist_ok=True)
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "done").exists():
            _run_suites(folder)
            (folder / "done").touch()
    return {key: str(folder / f"{key}.json") for key in STORES}


def _run_suites(folder) -> None:
    env = dict(os.environ, ROLLOUT_HYPOTHESIS_PROFILE="smoke")
    running = {}
    for key, selection in STORES.items():
        path = str(folder / f"{key}.json")
        command = [sys.executable, "-m", "conformance.cli", "suite", "--store", selection, "--report", path, "--",
                   "-q", "-n", "0", "-k", SUBSET]
        running[key] = (path, subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                               stderr=subprocess.STDOUT, text=True))
    for key, (path, proc) in running.items():
        output = proc.communicate(timeout=300)[0]
        assert os.path.isfile(path), f"{key}: no report written\n{output[-2000:]}"


def _cell(page: str, rid: str, column: int) -> tuple[str, str]:
    """(status, inner HTML) of the cell of requirement ``rid`` in store column ``column``."""
    row = re.search(rf'<tr data-requirement="{rid}"[^>]*>(.*?)</tr>', page, re.S).group(1)
    cells = re.findall(r'<td class="cell [^"]*" data-status="([^"]*)">(.*?)</td>', row, re.S)
    return cells[column]


def test_loader_reads_handshake_names_and_dates(reports):
    runs = [load(reports[key]) for key in STORES]
    assert [run.name for run in runs] == ["reference", "mutant-reader-prefers-zst", "mutant-upstream-stat-recheck",
                                          "perl-reader"]
    assert all(run.version and run.started and run.kind == "suite" for run in runs)
    assert runs[3].capabilities == ("reader",)


def test_matrix_has_the_right_cells(reports):
    runs = [load(reports[key]) for key in STORES]
    page = html_report.html(runs, requirements.load())
    assert _cell(page, "READ-001", 0)[0] == "passed"
    status, inner = _cell(page, "READ-001", 1)
    assert status == "failed" and 'href="#c1-READ-001"' in inner
    assert 'id="c1-READ-001"' in page and "test_plain_wins_when_both_exist" in page
    assert _cell(page, "READ-001", 3)[0] == "passed"
    assert _cell(page, "COORD-001", 2)[0] == "failed"
    status, inner = _cell(page, "COORD-001", 3)
    assert status == "skipped" and "did not declare capability writer" in inner
    assert _cell(page, "COORD-001", 0)[0] == "passed"
    text = html_report.markdown(runs, requirements.load())
    assert re.search(r"\| READ-001 \| passed \| \*\*\[failed\]\(#c1-read-001\)\*\* \| passed \| passed \|", text)
    assert '<a id="c2-coord-001"></a>' in text


def test_report_command_page_in_headless_chromium(reports, tmp_path):
    out = tmp_path / "matrix.html"
    proc = subprocess.run([sys.executable, "-m", "conformance.cli", "report", *reports.values(), "--html", str(out),
                           "--markdown", str(tmp_path / "matrix.md")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    found = rendered(str(out))
    failed = [a for tag, a in found if tag == "td" and a.get("data-status") == "failed"]
    assert failed, "no failed cell drawn"
    anchors = {a["id"] for tag, a in found if "id" in a}
    assert {"c1-READ-001", "c2-COORD-001"} <= anchors


@pytest.mark.parametrize("content, message", [
    ({"kind": "interop", "stores": []}, "report kind 'interop' is not one this version reads (it reads: suite)"),
    ({"status": "violation", "verdicts": []}, "this is a race report"),
    ({"hello": 1}, "no report kind and not a suite report"),
    ([1, 2], "a report is a JSON object"),
    ({"kind": "suite", "store": "x"}, "a suite report missing or mangling 'requirements'"),
])
def test_unreadable_reports_say_what_to_do(tmp_path, content, message):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ReportError, match=re.escape(message)):
        load(str(path))


def test_report_command_refuses_an_unknown_kind_with_exit_2(tmp_path, capsys):
    from conformance.cli.main import main

    path = tmp_path / "interop.json"
    path.write_text(json.dumps({"kind": "interop"}))
    assert main(["report", str(path), "--html", str(tmp_path / "out.html")]) == 2
    assert "report kind 'interop'" in capsys.readouterr().err and not (tmp_path / "out.html").exists()
