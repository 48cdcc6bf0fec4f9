"""``interop`` subcommand: the interop matrix of several store selections, as text, JSON and Markdown.

Contract: :func:`register` adds ``interop`` to a subparsers object; the command returns 0 when every
cell is safe, 1 when any cell shows a violation, 3 when none does but some cell is inconclusive, 2 on
a usage error, 4 when SIGINT/SIGTERM cut it short (every actor stopped, the cells finished so far
printed and written, the work folder kept and named).  Rows are writer stores, columns compressor
stores; each failing cell names its bundle.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from conformance.runtime import interrupts
from conformance.api.exit_codes import INTERRUPTED
from conformance.runtime.workfolder import WorkFolder

from race_harness.interop import INTEROP_SCENARIOS, SAFE, Cell, Matrix, StoreInfo, run_matrix
from conformance.api.exit_codes import FOR_STATUS

USAGE_ERROR = 2
_FORMS = ("reference", "py:", "cmd:", "mutant:", "codex")


def register(subparsers) -> None:
    """Add ``interop`` to a subparsers object (conformance.cli.main wires this in)."""
    cmd = subparsers.add_parser(
        "interop", help="race every ordered pair (writer store, compressor store) and print the verdict matrix",
        description="For every ordered pair of the stores (diagonal included): the scheduled scenarios that apply "
                    "and a bounded random campaign (writers and a reader of the row's store, a compressor of the "
                    "column's store, an ager).")
    cmd.add_argument("--stores", help="comma-separated store selections, e.g. reference,reference:inode-flock")
    cmd.add_argument("--store", action="append", default=[], metavar="SELECTION",
                     help="one more selection (repeatable; for selections containing commas, e.g. cmd:)")
    cmd.add_argument("--seconds", type=float, default=5.0, help="random campaign per pair, in seconds (0: none)")
    cmd.add_argument("--seed", type=int, default=0, help="seed of every random choice (same seed, same schedule)")
    cmd.add_argument("--scenario", action="append", metavar="NAME",
                     help=f"scenarios per pair (repeatable; default {', '.join(INTEROP_SCENARIOS)})")
    cmd.add_argument("--no-scenarios", action="store_true", help="only the random campaign")
    cmd.add_argument("--no-replay-check", action="store_true",
                     help="do not replay the bundle of each 'lines lost' cell")
    cmd.add_argument("--bundle-dir", default="race-bundles", help="where failing runs leave repro bundles")
    cmd.add_argument("--workdir", help="keep run folders here (default: a temporary folder, removed when every "
                                       "cell is safe)")
    cmd.add_argument("--keep", action="store_true", help="keep the temporary work folder even when every cell is safe")
    cmd.add_argument("--json", metavar="FILE", help="write the matrix as JSON here ('-': stdout)")
    cmd.add_argument("--markdown", metavar="FILE", help="write the matrix as a Markdown table here ('-': stdout)")
    cmd.set_defaults(func=_cmd_interop)


def split_stores(text: str) -> list[str]:
    """Comma-separated selections; a piece not starting like a selection belongs to the previous one."""
    stores: list[str] = []
    for piece in text.split(","):
        if stores and not piece.strip().startswith(_FORMS):
            stores[-1] += "," + piece
        elif piece.strip():
            stores.append(piece.strip())
    return stores


def _cmd_interop(args: argparse.Namespace) -> int:
    from conformance.stores.preflight import check_store
    from conformance.stores.selection import SelectionError

    from race_harness.bounds import resolve_scenarios

    stores = split_stores(args.stores or "") + list(args.store)
    if not stores:
        return _usage("name the stores: --stores A,B,... (any store selections)")
    if len(set(stores)) != len(stores):
        return _usage(f"a store is named twice in {', '.join(stores)}")
    for selection in stores:
        try:
            check_store(selection)  # opens and answers its handshake, before any run
        except SelectionError as exc:
            return _usage(str(exc))
    if args.seconds < 0:
        return _usage(f"--seconds {args.seconds:g}: a campaign length cannot be negative")
    if args.scenario:
        args.scenario, problem = resolve_scenarios(args.scenario)
        if problem:
            return _usage(problem)
    scenarios = () if args.no_scenarios else tuple(args.scenario or INTEROP_SCENARIOS)
    if not scenarios and args.seconds <= 0:
        return _usage("nothing to run: give scenarios or --seconds > 0")
    interrupts.stop_children_at_once()  # actors are killed anyway; a cut cell is simply not shown
    folder = WorkFolder.create(args.workdir, args.keep, "interop-")
    done: list[Cell] = []
    try:
        matrix = run_matrix(stores, folder.path, scenarios, args.seconds, args.seed, os.path.abspath(args.bundle_dir),
                            not args.no_replay_check, progress=lambda line: print(line, file=sys.stderr, flush=True),
                            done=done)
    except KeyboardInterrupt:
        matrix = _partial(stores, done, scenarios, args)
        status = "interrupted"
    else:
        status = matrix.status
    planned = len(stores) ** 2
    print(render_text(matrix, None if status != "interrupted" else
                      f"interop: interrupted after {len(done)} of {planned} cells; the matrix above is partial"))
    data = {**as_json(matrix), "status": status, "interrupted": status == "interrupted"}
    if args.json:
        _write(args.json, json.dumps(data, indent=1))
    if args.markdown:
        _write(args.markdown, render_markdown(matrix))
    line = folder.finish(status)
    if line:
        print(line, flush=True)
    return INTERRUPTED if status == "interrupted" else FOR_STATUS[status]


#: The label of a cell an interrupted run never finished.
NOT_RUN = "not run (interrupted)"


def _partial(stores: list[str], done: list[Cell], scenarios: tuple[str, ...], args: argparse.Namespace) -> Matrix:
    """The matrix of an interrupted run: its finished cells, every other one labelled :data:`NOT_RUN`."""
    finished = {(c.writer, c.compressor): c for c in done}
    cells = tuple(finished.get((w, c), Cell(w, c, NOT_RUN, ())) for w in stores for c in stores)
    return Matrix(tuple(StoreInfo(s) for s in stores), cells, args.seed, args.seconds, scenarios)


def _usage(message: str) -> int:
    print(f"interop: {message}", file=sys.stderr)
    return USAGE_ERROR


def _write(target: str, text: str) -> None:
    if target == "-":
        print(text)
        return
    with open(target, "w") as handle:
        handle.write(text + "\n")


def _cell_text(cell: Cell) -> str:
    text = cell.label
    if cell.replayed:
        text += " (replay reproduces)" if cell.replayed.reproduced else " (replay did NOT reproduce)"
    return text


def _footnotes(matrix: Matrix) -> list[tuple[Cell, str]]:
    """(cell, line): the scenarios that did not apply, and for a cell that is not safe its bundles
    (or why it is inconclusive) and its replay."""
    rows = []
    for cell in matrix.cells:
        if cell.not_applicable:
            rows.append((cell, "not applicable: " + "; ".join(cell.not_applicable)))
        if cell.label == SAFE:
            continue
        failing = [v for v in cell.verdicts if v.status != "passed"]
        for verdict in failing:
            what = ", ".join(verdict.classes) or verdict.status
            where = _shown(verdict.bundle) or "; ".join(verdict.notes[-1:])
            rows.append((cell, f"{verdict.name}: {what}: {where}"))
        if cell.replayed:
            rows.append((cell, f"replay of {_shown(cell.replayed.bundle)}: "
                               + ("reproduced " if cell.replayed.reproduced else "did not reproduce ")
                               + (", ".join(cell.replayed.classes) or "nothing")))
    return rows


def _shown(path: str) -> str:
    """A bundle path as a reader can use it: relative when it lies under the current folder."""
    if path and os.path.abspath(path).startswith(os.getcwd() + os.sep):
        return os.path.relpath(path)
    return path


def render_text(matrix: Matrix, last_line: str | None = None) -> str:
    """The matrix as aligned text (what the command prints), then each non-safe cell's evidence;
    ``last_line`` replaces the closing verdict line (an interrupted run's)."""
    names = [s.selection for s in matrix.stores]
    width = max(len("writer \\ compressor"), *(len(n) for n in names))
    cols = [max(len(n), *(len(_cell_text(matrix.cell(w, n))) for w in names)) for n in names]
    lines = ["writer \\ compressor".ljust(width) + "  " + "  ".join(n.ljust(c) for n, c in zip(names, cols))]
    for writer in names:
        lines.append(writer.ljust(width) + "  " + "  ".join(
            _cell_text(matrix.cell(writer, n)).ljust(c) for n, c in zip(names, cols)))
    lines.append("")
    for info in matrix.stores:
        if not (info.store or info.problem):
            continue  # not asked for its hello: the run was interrupted first
        lines.append(f"{info.selection}: " + (info.problem or f"{info.store}; coordination "
                     f"{', '.join(info.coordination) or 'none declared'}; {len(info.failpoints)} failpoint(s)"))
    for cell, line in _footnotes(matrix):
        lines.append(f"  [{cell.writer} -> {cell.compressor}] {line}")
    lines.append("\n" + (last_line or f"interop: {matrix.status}") + f" (seed {matrix.seed}, campaign "
                 f"{matrix.seconds:g}s per pair, scenarios: {', '.join(matrix.scenarios) or 'none'})")
    return "\n".join(lines)


def render_markdown(matrix: Matrix) -> str:
    """A Markdown table (rows: writer store, columns: compressor store) with the bundles below it."""
    names = [s.selection for s in matrix.stores]
    lines = ["| writer \\ compressor | " + " | ".join(f"`{n}`" for n in names) + " |",
             "|---|" + "---|" * len(names)]
    for writer in names:
        lines.append(f"| `{writer}` | " + " | ".join(_cell_text(matrix.cell(writer, n)) for n in names) + " |")
    notes = _footnotes(matrix)
    if notes:
        lines.append("")
        lines += [f"- `{cell.writer}` writers, `{cell.compressor}` compressor: {line}" for cell, line in notes]
    return "\n".join(lines)


def as_json(matrix: Matrix) -> dict:
    """Everything the matrix found, as plain data (one entry per cell, each run with its bundle)."""
    return {
        "status": matrix.status, "seed": matrix.seed, "seconds": matrix.seconds, "scenarios": list(matrix.scenarios),
        "stores": [{"selection": s.selection, "store": s.store, "coordination": list(s.coordination),
                    "failpoints": len(s.failpoints), "problem": s.problem} for s in matrix.stores],
        "cells": [{"writer": c.writer, "compressor": c.compressor, "verdict": c.label,
                   "status": "not_run" if c.label == NOT_RUN else c.status,
                   "classes": list(c.classes), "bundles": list(c.bundles), "not_applicable": list(c.not_applicable),
                   "lines_lost_replay": None if c.replayed is None else {
                       "bundle": c.replayed.bundle, "reproduced": c.replayed.reproduced,
                       "classes": list(c.replayed.classes)},
                   "runs": [{"name": v.name, "status": v.status, "classes": list(v.classes), "bundle": v.bundle,
                             "notes": list(v.notes)} for v in c.verdicts]}
                  for c in matrix.cells],
        "rows": "writer store (its writers and its reader)", "columns": "compressor store",
    }
