"""Self-validation: prove the suite fails for the bugs it targets (``rollout-conformance selftest``).

Contract: ``selftest`` runs the conformance suite (the real ``suite`` command line, one pytest
process per store, at most ``--jobs`` at once) against the reference and every mutant of
:data:`conformance.stores.mutants.MUTANTS`, reads each run's JSON report by requirement id, runs the race
scenarios each mutant names through ``race_harness.scenarios.run_scenario``, prints one table row per
store and exits 1 when

* a store mutant survives (no test and no scenario failed),
* a store mutant is caught only under the wrong requirement (none of the ids it ``breaks`` failed),
* a protocol program is not reported ``inconclusive`` (a pass or a plain failure is wrong), or
* the reference fails or is inconclusive on anything.

``--quick`` runs, for each mutant, only the tests tagged with its ``breaks`` ids and stops at the
first failure (``-x``); any failure there is under an expected id by construction.  It skips the
race scenarios unless ``--race`` is given.  The complete self-test is the ``selftest`` tox env.

This module is also a pytest plugin (``-p conformance.selftest.gallery_run``) adding ``--selftest-only-req``
(keep only tests tagged with those ids) and ``--selftest-timing`` (when each id first failed).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from conformance.runtime import interrupts
from conformance.reports.by_requirement import requirement_ids

REFERENCE = "reference"
SUITE_TIMEOUT = 1800.0
SCENARIO_TIMEOUT = 300.0
FAILING = ("failed",)


# -- pytest plugin side ---------------------------------------------------------------------------


def pytest_addoption(parser):
    group = parser.getgroup("rollout-conformance selftest")
    group.addoption("--selftest-only-req", default="", help="comma-separated ids: run only tests tagged with one")
    group.addoption("--selftest-timing", default="", help="write when each requirement first failed (JSON)")


def _req_ids(item) -> set[str]:
    return {rid for marker in item.iter_markers("req") for rid in marker.args}


def pytest_collection_modifyitems(config, items):
    wanted = {rid for rid in config.getoption("--selftest-only-req").split(",") if rid}
    if not wanted:
        return
    keep = [item for item in items if _req_ids(item) & wanted]
    drop = [item for item in items if not _req_ids(item) & wanted]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


class _Timing:
    def __init__(self, path: str) -> None:
        self.path = path
        self.start = time.monotonic()
        self.first: dict[str, dict] = {}
        self.tags: dict[str, list[str]] = {}  # failing or inconclusive test -> the ids it is tagged with
        self.session = None

    def pytest_sessionstart(self, session):
        self.session = session

    def pytest_runtest_logreport(self, report):
        if not report.failed and "inconclusive" not in dict(report.user_properties):
            return
        ids = requirement_ids(report)
        self.tags[report.nodeid] = ids
        blamed = dict(report.user_properties).get("blame")
        ids = [blamed] if report.failed and blamed else ids  # filed where the report files it
        inconclusive = "inconclusive" in dict(report.user_properties)
        if inconclusive and self.session is not None and self.session.config.getoption("maxfail") == 1:
            # -x stops at the first failure; an inconclusive test (JUnit-skipped) is just as final here
            self.session.shouldstop = f"inconclusive: {report.nodeid}"
        for rid in ids:
            self.first.setdefault(rid, {
                "seconds": round(time.monotonic() - self.start, 3),
                "test": report.nodeid,
                "inconclusive": inconclusive,
            })

    def pytest_sessionfinish(self, session):
        if not hasattr(session.config, "workerinput"):
            Path(self.path).write_text(json.dumps(self.first, indent=2) + "\n")
            Path(self.path + ".tags").write_text(json.dumps(self.tags, indent=2) + "\n")


def pytest_configure(config):
    path = config.getoption("--selftest-timing", default="")
    if path:
        config.pluginmanager.register(_Timing(path), "rollout-conformance-selftest-timing")


# -- one run of the suite, one scenario ------------------------------------------------------------


@dataclass
class SuiteRun:
    selection: str
    statuses: dict[str, str] = field(default_factory=dict)  # requirement id -> status
    failing_tests: dict[str, list[str]] = field(default_factory=dict)  # id -> failing/inconclusive test ids
    first_failure: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0
    returncode: int | None = None
    error: str = ""  # the run did not produce a report: why
    tags: dict[str, list[str]] = field(default_factory=dict)  # failing test -> its ids (unknown: any)

    def tagged_failures(self, rid: str) -> list[str]:
        """The failing tests filed under ``rid`` that are tagged with it (a blame may file elsewhere)."""
        return [t for t in self.failing_tests.get(rid, []) if rid in self.tags.get(t, (rid,))]

    def ids_with(self, *statuses: str) -> set[str]:
        return {rid for rid, status in self.statuses.items() if status in statuses}


def _env() -> dict:
    """The child's environment: the folder holding these packages first on PYTHONPATH."""
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def _run(argv: list[str], timeout: float, cwd: str) -> tuple[int | None, str, str]:
    """Run in its own session; on timeout kill the whole group. (returncode, stdout, stderr).
    Nothing starts once the run is interrupted (a pool thread may pick up work meanwhile)."""
    if interrupts.interrupted():
        return None, "", "not started: the self-test was interrupted"
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, env=_env(), cwd=cwd)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        return None, out, err + f"\n(killed after {timeout:g} s)"
    return process.returncode, out, err


def suite_argv(selection: str, report: str, timing: str, only: tuple[str, ...], stop_first: bool) -> list[str]:
    """The pytest command line of ``rollout-conformance suite`` for one store, plus the selftest plugin."""
    from conformance.suite import runner as suite_cli

    args = argparse.Namespace(store=selection, profile="full", ledger=None, update_ledger=False,
                              report=report, junitxml=None, seed=0)
    extra = ["-n", "0", "-q", "-p", "conformance.selftest.gallery_run", "--selftest-timing", timing]
    if only:
        extra += ["--selftest-only-req", ",".join(only)]
    if stop_first:
        extra.append("-x")
    return [sys.executable, "-m", "pytest"] + suite_cli.pytest_arguments(args, extra)


def run_suite(selection: str, workdir: str, only: tuple[str, ...] = (), stop_first: bool = False,
              timeout: float = SUITE_TIMEOUT) -> SuiteRun:
    safe = selection.replace(":", "_").replace("/", "_")
    report, timing = os.path.join(workdir, f"{safe}.json"), os.path.join(workdir, f"{safe}.timing.json")
    started = time.monotonic()
    code, out, err = _run(suite_argv(selection, report, timing, only, stop_first), timeout, workdir)
    Path(workdir, f"{safe}.log").write_text(out + err)
    run = SuiteRun(selection, seconds=time.monotonic() - started, returncode=code)
    if not os.path.exists(report):
        tail = "\n".join((out + err).strip().splitlines()[-15:])
        run.error = f"pytest exited with {code} and wrote no report:\n{tail}"
        return run
    data = json.loads(Path(report).read_text())
    for rid, entry in data["requirements"].items():
        run.statuses[rid] = entry["status"]
        bad = [t["nodeid"] for t in entry["tests"] if t["outcome"] in ("failed", "inconclusive")]
        if bad:
            run.failing_tests[rid] = bad
    if os.path.exists(timing):
        run.first_failure = json.loads(Path(timing).read_text())
    if os.path.exists(timing + ".tags"):
        run.tags = json.loads(Path(timing + ".tags").read_text())
    return run


def known_scenarios() -> set[str]:
    from race_harness.scenarios import SCENARIOS

    return set(SCENARIOS)


_SCENARIO_SCRIPT = textwrap.dedent("""
    import json, sys
    from race_harness.scenarios import run_scenario
    verdict = run_scenario(sys.argv[1], sys.argv[2], sys.argv[3])
    print("SELFTEST-VERDICT " + json.dumps(verdict.as_dict()))
""")


@dataclass
class ScenarioRun:
    selection: str
    name: str
    status: str  # passed | violation | inconclusive | error
    requirements: tuple[str, ...] = ()
    seconds: float = 0.0
    detail: str = ""


def run_race_scenario(selection: str, name: str, workdir: str, timeout: float = SCENARIO_TIMEOUT) -> ScenarioRun:
    root = tempfile.mkdtemp(prefix=f"race-{name}-", dir=workdir)
    started = time.monotonic()
    code, out, err = _run([sys.executable, "-c", _SCENARIO_SCRIPT, selection, name, root], timeout, workdir)
    seconds = time.monotonic() - started
    for line in out.splitlines():
        if line.startswith("SELFTEST-VERDICT "):
            verdict = json.loads(line.split(" ", 1)[1])
            reqs = tuple(sorted({v["requirement"] for v in verdict["violations"]}))
            return ScenarioRun(selection, name, verdict["status"], reqs, seconds,
                               "; ".join(verdict.get("classes", [])) or "; ".join(verdict.get("notes", []))[:200])
    tail = "\n".join((out + err).strip().splitlines()[-5:])
    return ScenarioRun(selection, name, "error", (), seconds, f"exit {code}: {tail}")


# -- verdicts ---------------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    kind: str  # reference | store | program
    expected: tuple[str, ...]
    verdict: str  # caught | survived | wrong-id | inconclusive | passed | FAILED | error
    ok: bool
    caught_by: list[str] = field(default_factory=list)
    seconds: float | None = None
    note: str = ""

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def judge_store(name: str, expected: tuple[str, ...], run: SuiteRun, scenarios: list[ScenarioRun],
                baseline: set[str] = frozenset()) -> Row:
    """``baseline``: tests that fail on the reference too; their failures catch nothing."""
    if run.error:
        return Row(name, "store", expected, "error", False, note=run.error)
    run.failing_tests = {rid: kept for rid, tests in run.failing_tests.items()
                         if (kept := [t for t in tests if t not in baseline])}
    failed = {rid for rid in run.ids_with(*FAILING) if rid in run.failing_tests}
    violations = [s for s in scenarios if s.status == "violation"]
    raced = {rid for s in violations for rid in s.requirements}
    caught_ids = failed | raced
    # caught under its own requirement: by a test tagged with it, or by a race scenario the mutant names
    right = sorted(({rid for rid in failed if run.tagged_failures(rid)} | raced) & set(expected))
    caught_by = [f"{rid} ({', '.join(_short(t) for t in run.failing_tests.get(rid, [])[:2])})" for rid in sorted(failed)]
    caught_by += [f"race:{s.name} ({', '.join(s.requirements) or s.detail})" for s in violations]
    times = [run.first_failure[rid]["seconds"] for rid in expected if rid in run.first_failure]
    seconds = min(times) if times else (run.seconds if failed else None)
    race_times = [s.seconds for s in violations]
    if seconds is None and race_times:
        seconds = min(race_times)
    if right:
        return Row(name, "store", expected, "caught", True, caught_by, seconds)
    if caught_ids:
        return Row(name, "store", expected, "wrong-id", False, caught_by, seconds,
                   note=f"no test tagged with {', '.join(expected)} failed under it")
    untested = [rid for rid in expected if run.statuses.get(rid, "not_run") == "not_run"]
    note = f"no suite test ran for {', '.join(untested)}" if untested else "every test of its ids passed"
    return Row(name, "store", expected, "survived", False, [], None, note)


def judge_program(name: str, expected: tuple[str, ...], run: SuiteRun) -> Row:
    if run.error:
        return Row(name, "program", expected, "error", False, note=run.error)
    inconclusive = run.ids_with("inconclusive")
    failed = run.ids_with(*FAILING)
    first = min(run.first_failure.values(), key=lambda f: f["seconds"], default=None)
    caught_by = [f"{rid} inconclusive ({_short(run.failing_tests[rid][0])})" for rid in sorted(inconclusive)][:3]
    seconds = first["seconds"] if first else None
    if inconclusive and not failed:
        return Row(name, "program", expected, "inconclusive", True, caught_by, seconds)
    if failed:
        return Row(name, "program", expected, "failed", False, caught_by, seconds,
                   note=f"reported as a spec failure ({', '.join(sorted(failed))}), not inconclusive")
    return Row(name, "program", expected, "passed", False, note="a misbehaving program passed")


def judge_reference(run: SuiteRun, scenarios: list[ScenarioRun]) -> Row:
    if run.error:
        return Row(REFERENCE, "reference", (), "error", False, note=run.error)
    bad = run.ids_with("failed", "inconclusive")
    bad_races = [s for s in scenarios if s.status != "passed"]
    if bad or bad_races:
        what = [f"{rid} ({', '.join(_short(t) for t in run.failing_tests.get(rid, [])[:2])})" for rid in sorted(bad)]
        what += [f"race:{s.name} {s.status} {s.detail}" for s in bad_races]
        return Row(REFERENCE, "reference", (), "FAILED", False, what, run.seconds)
    return Row(REFERENCE, "reference", (), "passed", True, [], run.seconds,
               note=f"{len(run.ids_with('passed'))} ids passed, {len(run.ids_with('not_run'))} without tests")


def _short(nodeid: str) -> str:
    return nodeid.rsplit("/", 1)[-1]


# -- the command ------------------------------------------------------------------------------------


class SelftestInterrupted(KeyboardInterrupt):
    """SIGINT/SIGTERM during :func:`selftest`: the rows judged so far, of ``planned`` in all."""

    def __init__(self, rows: list[Row], planned: int) -> None:
        super().__init__(f"interrupted after {len(rows)} of {planned} rows")
        self.rows, self.planned = rows, planned


def selftest(names: list[str] | None, quick: bool, race: bool, jobs: int, workdir: str,
             log=print) -> list[Row]:
    from conformance.stores.mutants import MUTANTS

    chosen = [MUTANTS[n] for n in (names if names else MUTANTS)]
    scenario_names = known_scenarios() if race else set()
    if race and not scenario_names:
        log("selftest: race_harness offers no run_scenario/SCENARIOS; race scenarios skipped")
    wanted_scenarios = {m.name: [s for s in m.scenarios if s in scenario_names] for m in chosen}
    ref_scenarios = sorted({s for names_ in wanted_scenarios.values() for s in names_})
    union = tuple(sorted({rid for m in chosen if m.kind == "store" for rid in m.breaks}))

    rows: list[Row] = []
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        try:
            _judge_all(pool, chosen, quick, union, wanted_scenarios, ref_scenarios, workdir, log, rows)
        except KeyboardInterrupt:
            # Queued suite runs never start; the running ones are being stopped (stop_children_at_once).
            pool.shutdown(wait=False, cancel_futures=True)
            raise SelftestInterrupted(rows, len(chosen) + 1) from None
    return rows


def _judge_all(pool, chosen, quick, union, wanted_scenarios, ref_scenarios, workdir, log, rows) -> None:
    """Submit every suite run and scenario, then append (and log) one row per store as each is judged."""
    ref_future = pool.submit(run_suite, REFERENCE, workdir, union if quick else ())
    suite_futures = {}
    for m in chosen:
        only = m.breaks if quick and m.kind == "store" else ()
        suite_futures[m.name] = pool.submit(run_suite, f"mutant:{m.name}", workdir, only,
                                            quick or m.kind == "program")
    race_futures = {(sel, s): pool.submit(run_race_scenario, sel, s, workdir)
                    for sel, names_ in [(REFERENCE, ref_scenarios)]
                    + [(f"mutant:{k}", v) for k, v in wanted_scenarios.items()] for s in names_}
    reference = ref_future.result()
    baseline = {t for tests in reference.failing_tests.values() for t in tests}
    rows.append(judge_reference(reference, [race_futures[(REFERENCE, s)].result() for s in ref_scenarios]))
    log(_format_row(rows[0]))
    for m in chosen:
        run = suite_futures[m.name].result()
        if m.kind == "program":
            row = judge_program(m.name, m.breaks, run)
        else:
            races = [race_futures[(f"mutant:{m.name}", s)].result() for s in wanted_scenarios[m.name]]
            row = judge_store(m.name, m.breaks, run, races, baseline)
        rows.append(row)
        log(_format_row(row))


def _format_row(row: Row) -> str:
    took = "-" if row.seconds is None else f"{row.seconds:.1f}s"
    expected = ",".join(row.expected) or "(nothing fails)"
    by = "; ".join(row.caught_by) or row.note
    mark = "ok  " if row.ok else "BAD "
    return f"{mark}{row.name:<28} {expected:<40} {row.verdict:<12} {took:>8}  {by}"


def header_line() -> str:
    return f"    {'store':<28} {'expected requirement ids':<40} {'verdict':<12} {'to catch':>8}  caught by"
