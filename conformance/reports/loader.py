"""Read JSON reports of any kind into one typed shape: a store's run, one cell per requirement.

Contract: :func:`load` reads one report file and returns a :class:`StoreRun`; a file that is not
JSON, not a report, or a report kind this version cannot read raises :class:`ReportError` saying
which file and what to do.  Each report kind has one loader in :data:`LOADERS` (``suite`` today, as
written by ``suite --report``; other kinds such as interop or reader-check reports add theirs).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

#: Worst first, as conformance.reports.by_requirement folds them; a cell's status is one of these.
STATUSES = ("failed", "inconclusive", "expected_failure", "passed", "skipped", "not_run")


class ReportError(ValueError):
    """A report file that cannot be read; the message names the file and the fix."""


@dataclass(frozen=True)
class TestResult:
    """One test behind a cell: its id, outcome and message (failure, skip reason, ...)."""

    nodeid: str
    outcome: str
    detail: str


@dataclass(frozen=True)
class Cell:
    """One requirement for one store: its status and the tests that decided it."""

    status: str
    tests: tuple[TestResult, ...] = ()

    def deciding(self) -> tuple[TestResult, ...]:
        """The tests whose outcome is the cell's status (the failures of a failed cell, ...)."""
        return tuple(t for t in self.tests if t.outcome == self.status)

    def reasons(self) -> tuple[str, ...]:
        """The distinct messages of the deciding tests, in order (e.g. the skip reasons)."""
        return tuple(dict.fromkeys(t.detail for t in self.deciding() if t.detail))


@dataclass(frozen=True)
class StoreRun:
    """One report: which store (as its handshake named it), when, and a cell per requirement."""

    source: str
    kind: str
    selection: str
    name: str  # from the store's handshake; "" when the report has none
    version: str
    profile: str
    seed: int | None  # the suite's seed (same store and seed, same verdicts); None when not recorded
    started: str  # ISO 8601 UTC; "" when the report has none
    finished: str
    capabilities: tuple[str, ...]
    coordination: tuple[str, ...]  # the coordination schemes the store declared
    cells: dict[str, Cell]
    note: str = ""  # what the report could not say (e.g. no handshake)

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}".strip() or self.selection

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for cell in self.cells.values():
            found[cell.status] = found.get(cell.status, 0) + 1
        return found


def load(path: str) -> StoreRun:
    """The report in ``path`` (any kind :data:`LOADERS` knows)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise ReportError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ReportError(f"{path}: not JSON ({exc}); pass the files written by `suite --report FILE`") from None
    if not isinstance(data, dict):
        raise ReportError(f"{path}: a report is a JSON object; pass the files written by `suite --report FILE`")
    kind = data.get("kind")
    if kind is None:
        kind = _guess_kind(path, data)
    loader = LOADERS.get(kind)
    if loader is None:
        raise ReportError(f"{path}: report kind {kind!r} is not one this version reads (it reads: "
                          f"{', '.join(sorted(LOADERS))}); upgrade rollout-conformance or leave this file out")
    try:
        return loader(path, data)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ReportError(f"{path}: a {kind} report missing or mangling {exc}; write it again with "
                          f"`suite --report FILE`") from None


def _guess_kind(path: str, data: dict) -> str:
    """Reports from before ``kind`` existed: a suite report has ``store`` and ``requirements``."""
    if "requirements" in data and "store" in data:
        return "suite"
    if "verdicts" in data:
        raise ReportError(f"{path}: this is a race report (`race --report`); `report` reads suite reports "
                          "(`suite --report FILE`); race verdicts are drawn in each bundle's timeline.html")
    raise ReportError(f"{path}: no report kind and not a suite report (no 'store' and 'requirements'); "
                      "pass the files written by `suite --report FILE`")


def _suite(path: str, data: dict) -> StoreRun:
    cells = {}
    for rid, row in data["requirements"].items():
        status = row["status"] if row["status"] in STATUSES else "inconclusive"
        tests = tuple(TestResult(t["nodeid"], t["outcome"], t.get("detail", "")) for t in row.get("tests", []))
        cells[rid] = Cell(status, tests)
    hello = data.get("handshake") or {}
    note = ""
    if "handshake" not in data:
        note = "no handshake in this report (written before reports recorded it): labelled by its selection"
    elif "error" in hello:
        note = f"the store's handshake failed: {hello['error']}"
    return StoreRun(path, "suite", data["store"], hello.get("name", ""), hello.get("version", ""),
                    data.get("profile", "full"), data.get("seed"), data.get("started", ""), data.get("finished", ""),
                    tuple(hello.get("capabilities", ())), tuple(hello.get("coordination", ())), cells, note)


LOADERS: dict[str, Callable[[str, dict], StoreRun]] = {"suite": _suite}
