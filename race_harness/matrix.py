"""The filesystem matrix: one short seeded campaign per store on homes on several filesystems.

Contract: :func:`run_matrix` gives one :class:`Row` per home layout of :data:`LAYOUTS` (tmpfs,
overlayfs, ext4/xfs/btrfs loop images, and bindfs (FUSE) homes seen through one mount or, writers
and compressor apart, through two mounts that stand for two machines), each with the probe's verdict
on that home and one :class:`Cell` per store: the campaign's status and violation classes, or
``skipped`` with the reason when the home could not be mounted here.  The same seed and bounds give
the same schedule; :func:`markdown` renders the table docs/shared-homes.md shows.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from conformance.probe.checks import ProbeUsageError, probe
from conformance.runtime.mounts import FILESYSTEMS, MountUnavailable, bindfs, filesystem_folder, require_bindfs
from race_harness.campaign import CampaignConfig, run_campaign
from race_harness.home_mounts import ONE_WRITER_MACHINE

TWO_MOUNTS = (("writer", "one"), ("compressor", "two"), ("reader", "one"))
ONE_MOUNT = (("writer", "one"), ("compressor", "one"), ("reader", "one"))
DEFAULT_STORES = ("reference", "reference:inode-flock", "reference:codex-thread-locks")


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
class Cell:
    store: str
    status: str  # passed | violation | inconclusive | skipped
    classes: tuple[str, ...] = ()
    outcomes: tuple[tuple[str, int], ...] = ()  # compressor outcomes and their counts
    note: str = ""


@dataclass(frozen=True)
class Row:
    layout: Layout
    probe: str  # the probe's verdict on the home as the writers see it (with the unsafe properties), or "skipped"
    cells: tuple[Cell, ...]


@contextlib.contextmanager
def _root_on(layout: Layout, scratch: str) -> Iterator[str]:
    """A folder on the layout's filesystem for the campaign's work folders (raises MountUnavailable)."""
    if layout.filesystem == "bindfs":
        require_bindfs()
        yield scratch
    else:
        with filesystem_folder(layout.filesystem, scratch) as root:
            yield root


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
    verdict = run_campaign(store, config, work, bundles)
    outcomes = tuple(sorted((verdict.stats.get("outcomes") or {}).items()))
    note = "" if verdict.status != "inconclusive" else "; ".join(verdict.notes)[:300]
    return Cell(store, verdict.status, verdict.classes, outcomes, note)


def run_matrix(stores: tuple[str, ...], config: CampaignConfig, scratch: str, bundles: str,
               layouts: tuple[Layout, ...] = LAYOUTS, progress: Callable[[str], None] = lambda line: None
               ) -> list[Row]:
    """Every layout × store (see the module docstring); ``scratch`` holds images and work folders."""
    rows = []
    for layout in layouts:
        try:
            with _root_on(layout, scratch) as root:
                verdict = _probe(layout, root)
                cells = tuple(_cell(store, layout, root, config, bundles) for store in stores)
        except MountUnavailable as exc:
            verdict, cells = "skipped", tuple(Cell(store, "skipped", note=str(exc)) for store in stores)
        rows.append(Row(layout, verdict, cells))
        progress(f"{layout.label}: probe {verdict}; " + "; ".join(f"{c.store} {_shown(c)}" for c in cells))
    return rows


def _shown(cell: Cell) -> str:
    if cell.status == "violation":
        return f"violation ({', '.join(cell.classes)})"
    if cell.status == "skipped":
        return f"skipped: {cell.note}"
    return cell.status


def markdown(rows: list[Row], command: str) -> str:
    """The matrix as a Markdown table, headed by the command that produced it."""
    stores = [cell.store for cell in rows[0].cells] if rows else []
    lines = [f"Produced by `{command}`; one campaign per cell (the compressor's outcomes in brackets).", "",
             "| home | probe | " + " | ".join(f"`{s}`" for s in stores) + " |",
             "|---|---|" + "---|" * len(stores)]
    for row in rows:
        shown = []
        for cell in row.cells:
            counts = ", ".join(f"{name} {n}" for name, n in cell.outcomes)
            shown.append(_shown(cell) + (f" [{counts}]" if counts else ""))
        lines.append(f"| {row.layout.label} | {row.probe} | " + " | ".join(shown) + " |")
    return "\n".join(lines) + "\n"
