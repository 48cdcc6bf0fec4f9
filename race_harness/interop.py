"""Interop matrix: every ordered pair (writer store, compressor store) raced on one home.

Contract: :func:`run_matrix` runs, for each ordered pair of the given selections (the diagonal
included), the scheduled scenarios of :data:`INTEROP_SCENARIOS` that apply (a scenario needing
failpoints runs only when the stores of the roles reaching them declared them; otherwise it is
listed as not applicable) and one seeded random campaign of ``seconds`` with writers of the writer
store, a compressor of the compressor store, a reader (the writer's store when it reads) and an ager, so stores
with a fixed cold age get compressed too.  Each pair gets one cell verdict (:func:`cell_label`),
with the bundle of each failing run; a "lines lost" cell's bundle is replayed (unless told not to)
and the cell says whether the replay reproduced it.  A campaign that acknowledged no write or
never found a rollout cold during the race proved nothing (:func:`race_harness.campaign.run_campaign` says
inconclusive), so neither does its cell.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace

from conformance.stores.selection import default_reader

from race_harness.campaign import CampaignConfig, run_campaign
from race_harness.judge import fresh_workdir
from race_harness.roles import Roles
from race_harness.scenarios import SCENARIOS, missing_failpoints, run_scenario
from race_harness.verdict import INCONCLUSIVE, PASSED, VIOLATION, Verdict

#: The scenarios where a writer-role actor races a compressor-role actor (the windows R1, R2, R4,
#: R5, R7, R12 of DOMAIN.md): the ones whose outcome depends on both stores' coordination.
INTEROP_SCENARIOS = ("r1-write-between-stats", "r2-writer-vs-unlink", "r4-append-after-unlink",
                     "r5-materialize-mtime", "r7-aba", "r12-idle-writer")
SAFE, LINES_LOST, RAW_BYTES, INCONCLUSIVE_LABEL = "safe", "lines lost", "raw bytes in .zst", "inconclusive"
#: Cell labels by the violation class that earns them, most serious first.
LABELS = (("lost_line", LINES_LOST), ("raw_bytes_in_zst", RAW_BYTES))


@dataclass(frozen=True)
class StoreInfo:
    """What a selection said in its hello (``problem`` when it could not even say hello)."""

    selection: str
    store: str = ""
    failpoints: tuple[str, ...] = ()
    coordination: tuple[str, ...] = ()
    problem: str = ""


@dataclass(frozen=True)
class Replayed:
    bundle: str
    reproduced: bool
    classes: tuple[str, ...]


@dataclass(frozen=True)
class Cell:
    """The verdict of one ordered pair, and every run behind it."""

    writer: str
    compressor: str
    label: str
    verdicts: tuple[Verdict, ...]
    not_applicable: tuple[str, ...] = ()  # "scenario: why" for each scenario skipped
    replayed: Replayed | None = None

    @property
    def status(self) -> str:
        return status_of(self.label)

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(sorted({c for v in self.verdicts for c in v.classes}))

    @property
    def bundles(self) -> tuple[str, ...]:
        return tuple(v.bundle for v in self.verdicts if v.bundle)


@dataclass(frozen=True)
class Matrix:
    stores: tuple[StoreInfo, ...]
    cells: tuple[Cell, ...]
    seed: int
    seconds: float
    scenarios: tuple[str, ...]

    @property
    def status(self) -> str:
        statuses = {c.status for c in self.cells}
        return VIOLATION if VIOLATION in statuses else INCONCLUSIVE if INCONCLUSIVE in statuses else PASSED

    def cell(self, writer: str, compressor: str) -> Cell:
        return next(c for c in self.cells if c.writer == writer and c.compressor == compressor)


def cell_label(verdicts: list[Verdict] | tuple[Verdict, ...]) -> str:
    """safe / lines lost / raw bytes in .zst / violation: CLASSES / inconclusive, from a pair's runs."""
    classes = sorted({c for v in verdicts for c in v.classes})
    for cls, label in LABELS:
        if cls in classes:
            return label
    if classes:
        return "violation: " + ", ".join(classes)
    if not verdicts or any(v.status == INCONCLUSIVE for v in verdicts):
        return INCONCLUSIVE_LABEL
    return SAFE


def status_of(label: str) -> str:
    return PASSED if label == SAFE else INCONCLUSIVE if label == INCONCLUSIVE_LABEL else VIOLATION


def probe(selection: str) -> StoreInfo:
    """Ask ``selection`` for its hello once (failpoints decide which scenarios apply)."""
    from conformance.stores.selection import open_store

    try:
        store = open_store(selection)
        try:
            hello = store.hello()
        finally:
            store.close()
    except Exception as exc:  # noqa: BLE001 - a store that cannot say hello makes its cells inconclusive
        return StoreInfo(selection, problem=f"{type(exc).__name__}: {exc}")
    return StoreInfo(selection, f"{hello.name} {hello.version}", tuple(hello.failpoints),
                     tuple(getattr(hello, "coordination", ()) or ()))


def pair_roles(writer: str, compressor: str) -> Roles:
    """Writers (and the reader: the application that writes also reads, unless it has no reader) of one
    store, compressor of the other."""
    return Roles(writer=writer, compressor=compressor, reader=default_reader(writer, compressor))


def campaign_config(seconds: float, seed: int) -> CampaignConfig:
    """The bounded campaign of each pair: two writers, a compressor, a reader and an ager."""
    return CampaignConfig(seconds=seconds, seed=seed, writers=2, compressors=1, readers=1, listers=0, archivers=0,
                          agers=1, rollouts=3)


def run_pair(writer: StoreInfo, compressor: StoreInfo, root: str, scenarios: tuple[str, ...] = INTEROP_SCENARIOS,
             seconds: float = 5.0, seed: int = 0, bundle_dir: str | None = None, check_replay: bool = True,
             progress: Callable[[str], None] | None = None, home_mounts: tuple[tuple[str, str], ...] = (),
             one_writer_machine: bool = False) -> Cell:
    """Every applicable scenario and one campaign with writers of ``writer`` and a compressor of ``compressor``
    (the campaign's roles seeing the home through ``home_mounts``, as in :class:`CampaignConfig`)."""
    roles = pair_roles(writer.selection, compressor.selection)
    stores = {writer.selection: writer, compressor.selection: compressor}
    broken = [f"{s.selection}: {s.problem}" for s in stores.values() if s.problem]
    if broken:
        verdict = Verdict("hello", INCONCLUSIVE, notes=tuple(f"cannot open the store {b}" for b in broken))
        return Cell(writer.selection, compressor.selection, INCONCLUSIVE_LABEL, (verdict,))
    folder = fresh_workdir(root, f"{_slug(writer.selection)}--{_slug(compressor.selection)}")
    verdicts: list[Verdict] = []
    skipped: list[str] = []
    for name in scenarios:
        missing = missing_failpoints(SCENARIOS[name], lambda role: stores[roles.selection(role)].failpoints)
        if missing:
            skipped.append(f"{name}: {'; '.join(missing)}")
            continue
        verdicts.append(run_scenario(roles, name, folder, seed, bundle_dir))
        _say(progress, writer, compressor, verdicts[-1])
    if seconds > 0:
        config = replace(campaign_config(seconds, seed), home_mounts=home_mounts, one_writer_machine=one_writer_machine)
        verdicts.append(run_campaign(roles, config, folder, bundle_dir))
        _say(progress, writer, compressor, verdicts[-1])
    label = cell_label(verdicts)
    cell = Cell(writer.selection, compressor.selection, label, tuple(verdicts), tuple(skipped))
    if label == LINES_LOST and check_replay:
        cell = replace(cell, replayed=replay_lost_lines(cell, os.path.join(folder, "replay")))
    return cell


def replay_lost_lines(cell: Cell, root: str) -> Replayed | None:
    """Replay the cell's first lost-line bundle (a scheduled scenario's when there is one: deterministic)."""
    from race_harness.replay import replay

    lost = [v for v in cell.verdicts if "lost_line" in v.classes and v.bundle]
    if not lost:
        return None
    bundle = sorted(lost, key=lambda v: v.name.startswith("campaign"))[0].bundle
    again = replay(bundle, root=root)
    return Replayed(bundle, again.reproduced and "lost_line" in again.verdict.classes, again.verdict.classes)


def run_matrix(selections: list[str], root: str | None = None, scenarios: tuple[str, ...] = INTEROP_SCENARIOS,
               seconds: float = 5.0, seed: int = 0, bundle_dir: str | None = None, check_replay: bool = True,
               progress: Callable[[str], None] | None = None, done: list[Cell] | None = None) -> Matrix:
    """The whole matrix over ``selections`` (rows: writer store, columns: compressor store); each
    cell is also appended to ``done`` as it finishes (what an interrupted run can still show)."""
    root = root or tempfile.mkdtemp(prefix="interop-")
    stores = tuple(probe(s) for s in selections)
    done = [] if done is None else done
    for w in stores:
        for c in stores:
            done.append(run_pair(w, c, root, scenarios, seconds, seed, bundle_dir, check_replay, progress))
    return Matrix(stores, tuple(done), seed, seconds, tuple(scenarios))


def _say(progress: Callable[[str], None] | None, writer: StoreInfo, compressor: StoreInfo, verdict: Verdict) -> None:
    if progress:
        progress(f"writer {writer.selection} / compressor {compressor.selection}: {verdict.name}: {verdict.status}"
                 + (f" ({', '.join(verdict.classes)})" if verdict.classes else ""))


def _slug(selection: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in selection)[:60]
