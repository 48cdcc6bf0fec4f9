"""The filesystem matrix: the suite, ``interop`` and a seeded race campaign per store on homes on several filesystems.

Contract: :func:`run_matrix` gives one :class:`Row` per home layout of :data:`LAYOUTS` (tmpfs,
overlayfs, ext4/xfs/btrfs loop images, and bindfs (FUSE) homes seen through one mount or, writers
and compressor apart, through two mounts that stand for two machines), each with the probe's verdict
on that home, the conformance suite of each suite store with every test's home on that filesystem
(:mod:`race_harness.matrix_suite`), one interop campaign per ordered pair of distinct interop stores,
and one campaign per race store; a cell is ``skipped`` with the reason when the home could not be
mounted here or its store cannot be opened (codex not installed), never passed.  The same seed and
bounds give the same schedule; :func:`markdown` renders the table docs/shared-homes-matrix.md shows.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from conformance.probe.checks import ProbeUsageError, probe
from conformance.runtime.mounts import FILESYSTEMS, MountUnavailable, bindfs, filesystem_folder, require_bindfs
from conformance.stores.preflight import check_store
from conformance.stores.selection import SelectionError
from race_harness.campaign import CampaignConfig, run_campaign
from race_harness.home_mounts import ONE_WRITER_MACHINE
from race_harness.interop import StoreInfo, pair_roles, run_pair
from race_harness.interop import probe as hello_of
from race_harness.matrix_suite import DEFAULT_PROFILE, SuiteResult, run_suite

TWO_MOUNTS = (("writer", "one"), ("compressor", "two"), ("reader", "one"))
ONE_MOUNT = (("writer", "one"), ("compressor", "one"), ("reader", "one"))
#: The codex release the matrix covers (issue #25); its cells are skipped, saying why, where it is not installed.
CODEX = "codex:0.171.0"
DEFAULT_STORES = ("reference", "reference:inode-flock", "reference:codex-thread-locks", CODEX)
DEFAULT_SUITE_STORES = ("reference", CODEX)
DEFAULT_INTEROP_STORES = ("reference", CODEX)


@dataclass(frozen=True)
class Layout:
    """A home layout: the filesystem under it and, for FUSE, which role sees it through which mount."""

    label: str
    filesystem: str  # one of FILESYSTEMS, or "bindfs"
    home_mounts: tuple[tuple[str, str], ...] = ()
    one_writer_machine: bool = False


LAYOUTS = (
    *(Layout(kind, kind) for kind in FILESYSTEMS),
    Layout("bindfs, one mount", "bindfs", ONE_MOUNT),
    Layout("bindfs, one mount, .one-writer-machine", "bindfs", ONE_MOUNT, True),
    Layout("bindfs, writers and compressor on two mounts", "bindfs", TWO_MOUNTS),
    Layout("bindfs, two mounts, .one-writer-machine", "bindfs", TWO_MOUNTS, True),
)


@dataclass(frozen=True)
class Plan:
    """What runs on each layout: the race stores, the suite's stores and profile, the interop stores."""

    stores: tuple[str, ...] = DEFAULT_STORES
    config: CampaignConfig = field(default_factory=lambda: CampaignConfig(seconds=3.0, seed=1, rollouts=3))
    suite_stores: tuple[str, ...] = DEFAULT_SUITE_STORES
    suite_profile: str = DEFAULT_PROFILE
    suite_select: str = ""  # a pytest -k expression: only those suite tests
    interop_stores: tuple[str, ...] = DEFAULT_INTEROP_STORES

    def pairs(self) -> tuple[tuple[str, str], ...]:
        """The ordered pairs (writer store, compressor store) of distinct interop stores."""
        return tuple((w, c) for w in self.interop_stores for c in self.interop_stores if w != c)


@dataclass(frozen=True)
class Cell:
    store: str
    status: str  # passed | violation | inconclusive | skipped
    classes: tuple[str, ...] = ()
    outcomes: tuple[tuple[str, int], ...] = ()  # compressor outcomes and their counts
    note: str = ""


@dataclass(frozen=True)
class InteropCell:
    writer: str
    compressor: str
    label: str  # interop's cell label (safe, lines lost, ...) or "skipped"
    note: str = ""


@dataclass(frozen=True)
class Row:
    layout: Layout
    probe: str  # the probe's verdict on the home as the writers see it (with the unsafe properties), or "skipped"
    cells: tuple[Cell, ...]
    suite: tuple[SuiteResult, ...] = ()
    interop: tuple[InteropCell, ...] = ()


@contextlib.contextmanager
def _root_on(layout: Layout, scratch: str) -> Iterator[str]:
    """A folder on the layout's filesystem for the campaign's work folders (raises MountUnavailable)."""
    if layout.filesystem == "bindfs":
        require_bindfs()
        yield scratch
    else:
        with filesystem_folder(layout.filesystem, scratch) as root:
            yield root


@contextlib.contextmanager
def _suite_root(layout: Layout, root: str) -> Iterator[str]:
    """Where the suite's temp homes go: ``root`` itself, or for bindfs a mount of a folder in it (the
    suite sees every home through that one path, as the writers' mount)."""
    if layout.filesystem != "bindfs":
        yield root
        return
    backing = tempfile.mkdtemp(prefix="suite-backing-", dir=root)
    with bindfs(backing, backing + ".mount") as point:
        yield point


def _probe(layout: Layout, root: str) -> str:
    """The probe's verdict on a home on ``root`` as this layout's writers would see it."""
    folder = tempfile.mkdtemp(prefix="probe-", dir=root)  # fresh per layout: a declaration must not carry over
    home = os.path.join(folder, "home")
    os.mkdir(home)
    if layout.one_writer_machine:
        open(os.path.join(home, ONE_WRITER_MACHINE), "w").close()
    names = dict.fromkeys(name for _, name in layout.home_mounts)
    with contextlib.ExitStack() as stack:
        paths = [stack.enter_context(bindfs(home, os.path.join(folder, name))) for name in names] or [home]
        try:
            report = probe(paths[0], paths[1] if len(paths) > 1 else None)
        except ProbeUsageError as exc:
            return f"unknown ({exc})"
    unsafe = [p.name for p in report.properties if p.verdict == "unsafe"]
    return report.verdict + (f" ({', '.join(unsafe)})" if unsafe else "")


def _cell(store: str, layout: Layout, root: str, config: CampaignConfig, bundles: str) -> Cell:
    config = replace(config, home_mounts=layout.home_mounts, one_writer_machine=layout.one_writer_machine)
    work = tempfile.mkdtemp(prefix="cell-", dir=root)
    # the roles `race --store S` gives: a store without a reader (codex) is read through the reference
    verdict = run_campaign(pair_roles(store, store), config, work, bundles)
    outcomes = tuple(sorted((verdict.stats.get("outcomes") or {}).items()))
    note = "" if verdict.status != "inconclusive" else "; ".join(verdict.notes)[:300]
    return Cell(store, verdict.status, verdict.classes, outcomes, note)


def _interop(pair: tuple[str, str], infos: dict[str, StoreInfo], layout: Layout, root: str,
             config: CampaignConfig, bundles: str) -> InteropCell:
    writer, compressor = (infos[s] for s in pair)
    cell = run_pair(writer, compressor, tempfile.mkdtemp(prefix="interop-", dir=root), (), config.seconds,
                    config.seed, bundles, check_replay=False, home_mounts=layout.home_mounts,
                    one_writer_machine=layout.one_writer_machine)
    notes = [n for v in cell.verdicts if v.status == "inconclusive" for n in v.notes]
    return InteropCell(*pair, cell.label, "; ".join(notes)[:300])


def unavailable(selections) -> dict[str, str]:
    """Why each selection that cannot be opened here cannot (codex not installed, ...); others absent."""
    missing = {}
    for selection in dict.fromkeys(selections):
        try:
            check_store(selection)
        except SelectionError as exc:
            missing[selection] = str(exc)
    return missing


def _layout_row(layout: Layout, plan: Plan, root: str, bundles: str, missing: dict[str, str],
                infos: dict[str, StoreInfo]) -> Row:
    verdict = _probe(layout, root)
    suite = []
    for store in plan.suite_stores:
        if store in missing:
            suite.append(SuiteResult(store, "skipped", note=missing[store]))
            continue
        with _suite_root(layout, root) as suite_root:
            suite.append(run_suite(store, plan.suite_profile, suite_root, plan.config.seed, layout.one_writer_machine,
                                   plan.suite_select))
    interop = []
    for pair in plan.pairs():
        why = "; ".join(missing[s] for s in pair if s in missing)
        interop.append(InteropCell(*pair, "skipped", why) if why else
                       _interop(pair, infos, layout, root, plan.config, bundles))
    cells = tuple(Cell(store, "skipped", note=missing[store]) if store in missing else
                  _cell(store, layout, root, plan.config, bundles) for store in plan.stores)
    return Row(layout, verdict, cells, tuple(suite), tuple(interop))


def _skipped_row(layout: Layout, plan: Plan, why: str) -> Row:
    return Row(layout, "skipped", tuple(Cell(store, "skipped", note=why) for store in plan.stores),
               tuple(SuiteResult(store, "skipped", note=why) for store in plan.suite_stores),
               tuple(InteropCell(*pair, "skipped", why) for pair in plan.pairs()))


def run_matrix(plan: Plan, scratch: str, bundles: str, layouts: tuple[Layout, ...] = LAYOUTS,
               progress: Callable[[str], None] = lambda line: None) -> list[Row]:
    """Every layout × (suite, interop, race) of ``plan`` (see the module docstring); ``scratch`` holds
    images and work folders."""
    missing = unavailable((*plan.stores, *plan.suite_stores, *plan.interop_stores))
    infos = {s: hello_of(s) for s in plan.interop_stores if s not in missing}
    rows = []
    for layout in layouts:
        try:
            with _root_on(layout, scratch) as root:
                row = _layout_row(layout, plan, root, bundles, missing, infos)
        except MountUnavailable as exc:
            row = _skipped_row(layout, plan, str(exc))
        rows.append(row)
        progress(f"{layout.label}: probe {row.probe}; "
                 + "; ".join([*(f"suite {s.store} {s.shown()}" for s in row.suite),
                              *(f"interop {i.writer} -> {i.compressor} {_interop_shown(i)}" for i in row.interop),
                              *(f"{c.store} {_shown(c)}" for c in row.cells)]))
    return rows


def _shown(cell: Cell) -> str:
    if cell.status == "violation":
        return f"violation ({', '.join(cell.classes)})"
    if cell.status == "skipped":
        return f"skipped: {cell.note}"
    return cell.status


def _interop_shown(cell: InteropCell) -> str:
    return f"{cell.label}: {cell.note}" if cell.note else cell.label


def _escaped(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(rows: list[Row], command: str, when: str, plan: Plan) -> str:
    """The matrix as a Markdown table, headed by the command that produced it and when."""
    lines = [f"Produced by `{command}` on {when}.", "",
             f"Per home: the probe's verdict; the conformance suite (`--profile {plan.suite_profile}`"
             + (f", `-k {plan.suite_select}`" if plan.suite_select else "") + ", every "
             "test's home on that filesystem; on bindfs the suite sees its homes through one mount, and on "
             "`.one-writer-machine` rows each home declares one writer machine: `suite -- --one-writer-machine`); "
             f"`interop` with no scenarios, one {plan.config.seconds:g}-second campaign per ordered pair of "
             "distinct stores (writers → compressor) on the row's mounts, not replayed; and one "
             f"{plan.config.seconds:g}-second race campaign per store (seed {plan.config.seed}; the compressor's "
             "outcomes in brackets). A cell that could not run here says why; it is never a pass.", ""]
    suite_names = [f"suite `{s}`" for s in plan.suite_stores]
    race_names = [f"race `{s}`" for s in plan.stores]
    lines += ["| home | probe | " + " | ".join([*suite_names, "interop", *race_names]) + " |",
              "|---|---|" + "---|" * (len(suite_names) + 1 + len(race_names))]
    for row in rows:
        shown = [s.shown() for s in row.suite]
        shown.append("; ".join(f"`{i.writer}` → `{i.compressor}`: {_interop_shown(i)}" for i in row.interop) or "—")
        for cell in row.cells:
            counts = ", ".join(f"{name} {n}" for name, n in cell.outcomes)
            shown.append(_shown(cell) + (f" [{counts}]" if counts else ""))
        lines.append(f"| {row.layout.label} | {_escaped(row.probe)} | " + " | ".join(_escaped(s) for s in shown) + " |")
    return "\n".join(lines) + "\n"
