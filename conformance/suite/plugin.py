"""The pytest plugin behind the suite: store selection, capability gating, ledger, summary.

Load it explicitly (``pytest -p conformance.suite.plugin --store S``, or ``rollout-conformance suite``),
so it never touches a project's own tests.  Every suite test carries ``@pytest.mark.req(IDS...)``;
it is skipped only when the store did not *declare* the capability those requirements belong to.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from conformance.api import requirements
from conformance.machine.support import without_local_constants
from conformance.suite.ledger import Ledger, LedgerError
from conformance.protocol.wire import STRICT_ENV
from conformance.api.errors import Inconclusive
from conformance.reports.by_requirement import RequirementSummary
from conformance.reports.json_report import build_report, now
from conformance.stores.selection import SelectionError, describe, open_store, reuse_programs
from conformance.protocol.server_pool import ServerPool
from conformance.api.store import PROFILES, UndeclaredCapabilityError, effective_capabilities

DEFAULT_COLD_AFTER = 7 * 24 * 3600
#: The far zones a ``@pytest.mark.zones`` test runs under as well as the machine's (POSIX TZ strings,
#: whose sign is west-positive): time is an input of the cold rule, and a store that is right only
#: in UTC must fail somewhere.
FAR_ZONES = {"utc+14": "<+14>-14", "utc-12": "<-12>+12"}

#: The ``cmd:`` programs of this process (an xdist worker) that declared ``reopen``, kept between tests:
#: each store of the selection under test still starts a session as fresh as a new program's
#: (PROTOCOL.md, "Reusing a program").
_SERVERS = ServerPool()


def pytest_addoption(parser):
    group = parser.getgroup("rollout-conformance")
    group.addoption("--store", help="store selection: reference | py:mod:factory | cmd:<command> | mutant:<name>")
    group.addoption("--profile", choices=PROFILES, default="full", help="run only this profile's tests")
    group.addoption("--needing", metavar="CAPABILITY",
                    help="run only the tests that need this capability (e.g. failpoints: every failpoint-driven test)")
    group.addoption("--seed", type=int, default=0,
                    help="seed of every random choice of the suite (the state machine's steps); the same store "
                         "and seed give the same verdicts (default 0; `rollout-conformance suite` picks one and prints it)")
    group.addoption("--ledger", help="TOML file of expected failures")
    group.addoption("--update-ledger", action="store_true", help="rewrite --ledger from this run's failures")
    group.addoption("--conformance-report", metavar="FILE", help="write the JSON report here")
    group.addoption("--one-writer-machine", action="store_true",
                    help="every test's home declares one writer machine (.one-writer-machine, SPEC.md 5.8): to run "
                         "the suite on a filesystem whose mounts keep locks local (FUSE, NFS local_lock)")
    group.addoption("--strict-protocol", action="store_true",
                    help="check every protocol message against its JSON Schema (default: the first ones of each "
                         "kind in a session, then a sample, and every error answer)")


def pytest_configure(config):
    config.addinivalue_line("markers", "req(*ids): the SPEC.md requirement ids this test checks")
    config.addinivalue_line("markers", "needs(*capabilities): capabilities needed beyond the requirements'")
    config.addinivalue_line("markers", "discovery: asks only list and find, so a discovery-only store runs it")
    config.addinivalue_line("markers", "archived_sessions: needs a store whose scope includes archived_sessions/")
    config.addinivalue_line("markers", "zones: runs again with the store in each of FAR_ZONES (TZ)")
    if config.getoption("--strict-protocol"):
        os.environ[STRICT_ENV] = "1"  # every CommandStore and served store of this run, workers included
    selection = config.getoption("--store")
    if not selection:
        raise pytest.UsageError("the conformance suite needs --store (e.g. --store reference)")
    try:
        describe(selection)
    except SelectionError as exc:
        raise pytest.UsageError(str(exc)) from None
    ledger = None
    if config.getoption("--ledger") and not config.getoption("--update-ledger"):
        try:
            ledger = Ledger.load(config.getoption("--ledger"))
        except LedgerError as exc:
            raise pytest.UsageError(str(exc)) from None
    reuse_programs(selection, _SERVERS)
    state = _State(selection, ledger)
    config.stash[_STATE] = state
    # Registered as a plugin so its logreport hook sees every report (on the xdist controller too).
    config.pluginmanager.register(state, "rollout-conformance-state")


class _State:
    def __init__(self, selection: str, ledger: Ledger | None) -> None:
        self.selection = selection
        self.ledger = ledger
        self.summary = RequirementSummary(requirements.load())
        self._hello = None
        self.started = now()

    def hello(self):
        """The store's handshake, asked once per process; Inconclusive propagates to the test."""
        if self._hello is None:
            store = open_store(self.selection)
            try:
                self._hello = store.hello()
            finally:
                store.close()
        return self._hello

    def pytest_runtest_logreport(self, report):
        self.summary.add(report)


_STATE = pytest.StashKey[_State]()


def required_capabilities(item) -> set[str]:
    known = requirements.load()
    needed = set()
    for marker in item.iter_markers("req"):
        for rid in marker.args:
            needed.add(known[rid].capability)
    for marker in item.iter_markers("needs"):
        needed.update(marker.args)
    if item.get_closest_marker("discovery") and "reader" in needed:
        needed = (needed - {"reader"}) | {"discovery"}  # reader requirements, checked through list/find only
    return needed


def required_schemes(item) -> set[str]:
    """Coordination schemes the test's requirements belong to (SPEC.md 5.1); empty for outcomes."""
    known = requirements.load()
    return {known[rid].scheme for marker in item.iter_markers("req") for rid in marker.args if known[rid].scheme}


def pytest_collection_modifyitems(config, items):
    known = requirements.load()
    profile = config.getoption("--profile")
    keep, drop = [], []
    for item in items:
        ids = [rid for marker in item.iter_markers("req") for rid in marker.args]
        if not ids:
            raise pytest.UsageError(f"{item.nodeid} has no @pytest.mark.req(...): tag it with SPEC.md ids")
        unknown = [rid for rid in ids if rid not in known]
        if unknown:
            raise pytest.UsageError(f"{item.nodeid} names unknown requirement ids {unknown}; see SPEC.md")
        # one plain-string property per id: JUnit XML shows each as <property name="requirement" value="ID"/>
        item.user_properties.extend(("requirement", rid) for rid in ids)
        needing = config.getoption("--needing")
        if needing and needing not in required_capabilities(item):
            drop.append(item)
        elif profile == "full" or required_capabilities(item) <= effective_capabilities({profile}):
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_runtest_setup(item):
    state = item.config.stash[_STATE]
    hello = state.hello()
    missing = sorted(required_capabilities(item) - effective_capabilities(hello.capabilities))
    if missing:
        pytest.skip(f"store did not declare capability {', '.join(missing)}")
    undeclared = sorted(required_schemes(item) - set(state.hello().coordination))
    if undeclared:
        pytest.skip(f"store did not declare coordination scheme {', '.join(undeclared)}")
    if item.get_closest_marker("archived_sessions") and "archived_sessions" not in hello.scope:
        pytest.skip(f"store declared scope {', '.join(hello.scope)}: it does not read archived_sessions/")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """A test's Hypothesis draws follow ``--seed`` alone, not the literals of whatever else this
    worker loaded (see :func:`conformance.machine.support.without_local_constants`)."""
    with without_local_constants():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    state = item.config.stash[_STATE]
    blamed = getattr(call.excinfo.value, "requirement", None) if call.excinfo is not None else None
    if isinstance(blamed, str) and report.failed:
        # The test knows which of its requirements the failing step checks: file it there only.
        report.user_properties.append(("blame", blamed))
    if report.when == "call" and report.failed:
        # the failure output names the requirement it is filed under, beside the call that failed
        ids = [blamed] if isinstance(blamed, str) else [rid for m in item.iter_markers("req") for rid in m.args]
        report.sections.append(("requirement", f"filed under {', '.join(dict.fromkeys(ids))} (SPEC.md)"))
    if report.when == "call" and call.excinfo is not None and call.excinfo.errisinstance(UndeclaredCapabilityError):
        # The test needs an op of a capability the store did not declare: not verified, not failed.
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1], f"Skipped: {call.excinfo.value}")
    elif call.excinfo is not None and call.excinfo.errisinstance(Inconclusive):
        # A store that could not be asked is not a pass and not a spec failure: JUnit shows it as
        # skipped with the reason, plus an "inconclusive" property; the suite's exit code is 3.
        reason = str(call.excinfo.value)
        report.user_properties.append(("inconclusive", reason))
        item.user_properties.append(("inconclusive", reason))  # JUnit XML takes the item's properties
        path, line, _ = item.location
        report.outcome = "skipped"
        report.longrepr = (path, (line or 0) + 1, f"INCONCLUSIVE: {reason}")
        return report
    if state.ledger is not None:
        _apply_ledger(state.ledger, item, report)
    return report


def _apply_ledger(ledger: Ledger, item, report) -> None:
    reason = ledger.reason(item.nodeid)
    if reason is None:
        return
    if report.when == "call" and report.failed:
        report.outcome = "skipped"
        report.wasxfail = f"ledger: {reason}"
    elif report.when == "call" and report.passed:
        report.outcome = "failed"
        report.longrepr = f"unexpected pass: {item.nodeid} is listed in the ledger ({reason}); remove it"
    elif report.when == "setup" and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid} is listed in the ledger but was skipped; a ledger must not hide tests"


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """An inconclusive test is never a pass: plain ``pytest`` exits 1 (``suite`` maps it to 3)."""
    if hasattr(session.config, "workerinput") or _STATE not in session.config.stash:
        return
    if exitstatus == pytest.ExitCode.OK and session.config.stash[_STATE].summary.overall() == "inconclusive":
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    state = config.stash[_STATE]
    if hasattr(config, "workerinput"):
        return
    for line in state.summary.table_lines(state.selection):
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"seed {config.getoption('--seed')} (the same store and --seed give the same verdicts)")
    path = config.getoption("--conformance-report")
    if path:
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
        report = build_report(state.summary.as_json(state.selection), state.hello, started=state.started,
                              profile=config.getoption("--profile"), interrupted=interrupted,
                              seed=config.getoption("--seed"))
        Path(path).write_text(json.dumps(report, indent=2) + "\n")
        terminalreporter.write_line(f"JSON report written to {path}" + (" (interrupted: partial)" if interrupted else ""))
    if config.getoption("--update-ledger"):
        ledger_path = config.getoption("--ledger") or "conformance-ledger.toml"
        Ledger(state.summary.failures()).dump(
            ledger_path, f"Expected failures of {state.selection}, written by --update-ledger."
        )
        terminalreporter.write_line(f"ledger written to {ledger_path}")


@pytest.fixture
def suite_seed(request) -> int:
    """The run's seed: every random choice of a suite test derives from it."""
    return request.config.getoption("--seed")


@pytest.fixture
def store_selection(request) -> str:
    return request.config.stash[_STATE].selection


@pytest.fixture
def store_scope(request) -> tuple[str, ...]:
    """The areas of the home the store declared it reads (``hello.scope``)."""
    return request.config.stash[_STATE].hello().scope


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("zones") and "store_zone" in metafunc.fixturenames:
        metafunc.parametrize("store_zone", ["machine-zone", *FAR_ZONES], indirect=True)


@pytest.fixture
def store_zone(request):
    """The time zone (``TZ``) every store of the test runs in: the machine's, or one of
    :data:`FAR_ZONES` for a ``zones`` test, set before any store is opened so a ``cmd:`` program
    inherits it and an in-process store sees it (``time.tzset``); restored afterwards."""
    zone = getattr(request, "param", "machine-zone")
    if zone not in FAR_ZONES:
        yield zone
        return
    previous = os.environ.get("TZ")
    os.environ["TZ"] = FAR_ZONES[zone]
    time.tzset()
    try:
        yield zone
    finally:
        if previous is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = previous
        time.tzset()


@pytest.fixture
def home(request, tmp_path, store_zone) -> Path:
    """A fresh, empty home for one test (so ``-n auto`` is safe), in the test's zone (``store_zone``);
    with ``--one-writer-machine`` it declares one writer machine."""
    root = tmp_path / "home"
    (root / "sessions").mkdir(parents=True)
    (root / "archived_sessions").mkdir()
    if request.config.getoption("--one-writer-machine"):
        (root / ".one-writer-machine").touch()
    return root


@pytest.fixture
def store(store_selection, home):
    """A store bound to ``home`` with the default 7-day cold threshold; closed after the test."""
    instance = open_store(store_selection)
    try:
        instance.configure(os.fspath(home), DEFAULT_COLD_AFTER)
        yield instance
    finally:
        instance.close()

