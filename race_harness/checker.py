"""Judge a run from its history and the disk alone: the store under test is never asked.

Contract: :func:`check` returns every violation it can prove, each with its class, the SPEC
requirement it breaks, a minimal witness in plain words and the operations around it.  It assumes
quiescence (no actor alive) and, when ``after_cleanup`` is set, that a recovery run just finished.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from conformance.oracle import home_view
from race_harness.history import FAIL, GARBLED, INFO, OK, WRITING_OPS, Operation, rids_in
from race_harness.requirements import REQUIREMENT

_NEARBY = 6  # operations quoted around a witness: enough to see the race, short enough to read


@dataclass(frozen=True)
class Violation:
    """One broken promise, explained so a person can act on it without rerunning anything."""

    cls: str
    requirement: str
    rollout: str
    witness: str
    operations: tuple[str, ...] = ()
    start: float | None = None  # earliest invoke (time.monotonic) among ``operations``, if any
    refs: tuple[str, ...] = ()  # ``proc#seq`` of each of ``operations``, in the same order

    def describe(self) -> str:
        lines = [f"{self.cls} [{self.requirement}] rollout {self.rollout or '-'}: {self.witness}"]
        lines += [f"    {op}" for op in self.operations]
        return "\n".join(lines)


def violation(cls: str, rollout: str, witness: str, around: list[Operation] = ()) -> Violation:
    around = list(around)
    return Violation(cls, REQUIREMENT[cls], rollout, witness, tuple(op.describe() for op in around),
                     min((op.start for op in around), default=None), tuple(f"{op.proc}#{op.seq}" for op in around))


def check(ops: list[Operation], home: str, after_cleanup: bool = True, crashed: bool = False) -> list[Violation]:
    """Every violation provable from ``ops`` and the files under ``home``."""
    view = home_view.scan(home)
    found: list[Violation] = []
    contents: dict[str, list[str]] = {}
    for rep in view.representations:
        if rep.compressed:
            found += _check_zst(home, rep, ops)
    for rollout in sorted(view.rollouts() | {op.rollout for op in ops if op.rollout}):
        reps = view.of(rollout)
        shown = home_view.visible(reps)
        rids = rids_in(_content(home, shown)) if shown else []
        contents[rollout] = rids
        mine = [op for op in ops if op.rollout == rollout]
        if after_cleanup and len(reps) > 1:
            cls = "active_and_archived" if len({r.archived for r in reps}) > 1 else "two_representations"
            found.append(violation(cls, rollout,
                                   "at rest after recovery, several files hold it: " + ", ".join(r.rel for r in reps),
                                   _latest(mine)))
        found += _check_lines(rollout, rids, mine, crashed)
        found += _check_reads(rollout, rids, mine)
        found += _check_deleted(rollout, shown, mine)
        found += _check_area(rollout, shown, mine)
        found += _check_delete_under_writer(rollout, mine)
    if after_cleanup:
        for rel in view.temps:
            found.append(violation("temp_left", "", f"temp {rel} survived a cleanup run with no live owner"))
    return found


def _content(home: str, rep: home_view.Representation) -> bytes:
    return home_view.content(home, rep).content


def _check_zst(home: str, rep: home_view.Representation, ops: list[Operation]) -> list[Violation]:
    decoded = home_view.content(home, rep)
    mine = [op for op in ops if op.rollout == rep.rollout]
    if decoded.problem == "raw_bytes":
        return [violation("raw_bytes_in_zst", rep.rollout, f"{rep.rel}: {decoded.detail}", _writers(mine))]
    if decoded.problem:
        return [violation("torn_frame", rep.rollout, f"{rep.rel}: {decoded.detail}", _latest(mine))]
    content = decoded.content
    if content and not content.endswith(b"\n"):
        return [violation("partial_line", rep.rollout,
                          f"{rep.rel} decodes to content ending in a partial line: ...{content[-60:]!r}", _latest(mine))]
    for number, raw in enumerate(content.split(b"\n")[:-1], 1):
        if raw.strip() and not _is_json_object(raw):
            return [violation("partial_line", rep.rollout,
                              f"{rep.rel} line {number} is not a whole JSON object: {raw[:60]!r}", _latest(mine))]
    return []


def _is_json_object(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except ValueError:
        return False


def _check_lines(rollout: str, rids: list[str], mine: list[Operation], crashed: bool) -> list[Violation]:
    """Acknowledged lines exactly once, indeterminate ones at most once, each writer in order."""
    found = []
    counts = Counter(rids)
    deletes = [op for op in mine if op.op == "delete" and op.status in (OK, INFO)]
    position = {rid: index for index, rid in reversed(list(enumerate(rids)))}
    lost: list[tuple[str, Operation]] = []
    doubled: list[tuple[str, Operation]] = []
    for op in mine:
        if op.op not in WRITING_OPS:
            continue
        for rid in op.rids:
            seen = counts.get(rid, 0)
            if seen == 0 and op.status == OK and not _deleted_after(op, deletes):
                lost.append((rid, op))
            elif seen > 1:
                doubled.append((rid, op))
    # One violation per class and rollout: the first line is the witness, the count says how bad.
    if lost:
        rid, op = lost[0]
        found.append(violation("lost_line", rollout,
                               f"{len(lost)} acknowledged line(s) missing from every readable representation; "
                               f"first: {rid}, acknowledged by {op.proc}#{op.seq} {op.op}", _around(op, mine)))
    if doubled:
        rid, op = doubled[0]
        found.append(violation("duplicate_line", rollout, f"{len(doubled)} line(s) appear more than once; first: "
                               f"{rid} ({op.status}) appears {counts[rid]} times", _around(op, mine)))
    found += _check_order(rollout, position, mine)
    torn_writer = crashed or any(op.op in WRITING_OPS and op.status != OK for op in mine)
    if GARBLED in counts and not torn_writer:
        found.append(violation("garbled_line", rollout,
                               f"{counts[GARBLED]} line(s) are not JSON though every write was acknowledged",
                               _writers(mine)))
    return found


def _deleted_after(op: Operation, deletes: list[Operation]) -> bool:
    """True when a delete may have taken effect after ``op``'s lines landed (it had not ended before
    ``op`` began): those lines are gone deliberately.  A line written after every delete ended is not."""
    return any(delete.end > op.start for delete in deletes)


#: Store operations that resolve a path: one acknowledged on a path shows the rollout was there.
_PATH_OPS = ("read", "append", "materialize", "open_writer", "compress")


def _check_area(rollout: str, shown: home_view.Representation | None, mine: list[Operation]) -> list[Violation]:
    """Where an acknowledged move left the rollout, when no other move, delete or create overlaps:
    an operation on the old active path acknowledged after an archive (LIFE-001), and the area at rest
    after the last move, archived after an archive (LIFE-001), active after an unarchive (LIFE-002)."""
    moving = [op for op in mine if op.op in ("archive", "unarchive", "delete", "create") and op.status != FAIL]
    if not moving:
        return []

    def alone(move: Operation, until: float) -> bool:
        return not any(op is not move and op.start < until and op.end > move.start for op in moving)

    for move in (op for op in moving if op.op == "archive" and op.status == OK):
        seen = next((op for op in mine if op.op in _PATH_OPS and op.status == OK and op.path == move.path
                     and op.start > move.end and alone(move, op.end)), None)
        if seen is not None:
            return [violation("not_archived", rollout, f"{move.proc}#{move.seq} archive was acknowledged, yet "
                              f"{seen.proc}#{seen.seq} {seen.op} found it at {seen.path} afterwards", [move, seen])]
    last = max(moving, key=lambda op: op.start)
    if shown is None or last.op not in ("archive", "unarchive") or last.status != OK or not alone(last, float("inf")):
        return []  # overlapping moves: either order is possible, no area is proven
    archived = last.op == "archive"
    if shown.archived == archived:
        return []
    cls = "not_archived" if archived else "not_unarchived"
    return [violation(cls, rollout, f"{last.proc}#{last.seq} {last.op} was acknowledged and nothing moved it since, "
                      f"yet it is at {shown.rel}", _around(last, mine))]


def _check_delete_under_writer(rollout: str, mine: list[Operation]) -> list[Violation]:
    """An acknowledged delete that began and ended while one writer held the rollout open (its
    open_writer acknowledged before, its close_writer acknowledged after): it must have failed busy."""
    deletes = [op for op in mine if op.op == "delete" and op.status == OK]
    for opened in (op for op in mine if op.op == "open_writer" and op.status == OK and deletes):
        closed = next((op for op in mine if op.proc == opened.proc and op.op == "close_writer"
                       and op.seq > opened.seq), None)
        if closed is None or closed.status != OK:
            continue
        for delete in deletes:
            if opened.end < delete.start and delete.end < closed.start and delete.path == opened.path:
                return [violation("deleted_while_open", rollout, f"{delete.proc}#{delete.seq} delete was acknowledged "
                                  f"while {opened.proc} held it open (#{opened.seq}..#{closed.seq})",
                                  [opened, delete, closed])]
    return []


def _check_order(rollout: str, position: dict[str, int], mine: list[Operation]) -> list[Violation]:
    by_proc: dict[str, list[tuple[int, str, Operation]]] = {}
    for op in mine:
        if op.op in WRITING_OPS and op.status in (OK, INFO):
            for rid in op.rids:
                if rid in position:
                    by_proc.setdefault(op.proc, []).append((position[rid], rid, op))
    found = []
    for proc, rows in sorted(by_proc.items()):
        # rows are in the writer's own order (history order); positions must grow with it
        for (pos_a, rid_a, op_a), (pos_b, rid_b, op_b) in zip(rows, rows[1:]):
            if pos_b < pos_a:
                found.append(violation("order", rollout, f"{proc} wrote {rid_a} before {rid_b}, "
                                       f"but the file holds {rid_b} at line {pos_b + 1} and {rid_a} at line {pos_a + 1}",
                                       [op_a, op_b]))
                break
    return found


def _check_reads(rollout: str, final: list[str], mine: list[Operation]) -> list[Violation]:
    """Each read is a prefix of every later read and of the final content, unless a delete intervened."""
    reads = sorted((op for op in mine if op.op == "read" and op.status == OK and isinstance(op.value, dict)),
                   key=lambda op: op.start)
    deletes = [op for op in mine if op.op == "delete" and op.status != FAIL]
    found = []
    for index, read in enumerate(reads):
        later = next((r for r in reads[index + 1:] if r.start > read.end), None)
        targets = [(later, later.value["rids"])] if later else []
        targets.append((None, final))
        for other, rids in targets:
            until = other.end if other else float("inf")
            if any(d.end >= read.start and d.start <= until for d in deletes):
                continue
            mine_rids = read.value["rids"]
            if rids[: len(mine_rids)] != mine_rids:
                where = f"the later read {other.proc}#{other.seq}" if other else "the final content on disk"
                found.append(violation("read_not_prefix", rollout,
                                       f"{read.proc}#{read.seq} read {len(mine_rids)} lines that are not a prefix "
                                       f"of {where} ({len(rids)} lines)", [read] + ([other] if other else [])))
                return found
    moved = any(op.op in ("archive", "unarchive", "delete") for op in mine)
    for op in mine:
        if op.op == "read" and op.status == FAIL and op.error.startswith("not_found") and not moved:
            found.append(violation("read_failed", rollout, f"a read of an existing rollout failed: {op.error}",
                                   _around(op, mine)))
            break
    for op in mine:
        if op.op == "header" and not moved and (op.status == FAIL or (op.status == OK and op.value != rollout)):
            what = op.error if op.status == FAIL else f"it gave the id {op.value!r}"
            found.append(violation("header_failed", rollout, f"a header of an existing rollout failed: {what}",
                                   _around(op, mine)))
            break
    return found


def _check_deleted(rollout: str, shown: home_view.Representation | None, mine: list[Operation]) -> list[Violation]:
    """A rollout deleted with acknowledgement exists later only if a create began after the delete."""
    if shown is None:
        return []
    for delete in (op for op in mine if op.op == "delete" and op.status == OK):
        recreated = any(op.op == "create" and op.status in (OK, INFO) and op.end > delete.start for op in mine)
        if not recreated:
            return [violation("resurrected", rollout, f"deleted by {delete.proc}#{delete.seq}, yet {shown.rel} exists "
                              "and nothing created it again", _around(delete, mine))]
    return []


def _around(op: Operation, mine: list[Operation]) -> list[Operation]:
    """The operation itself and the other processes' operations nearest to it in time."""
    others = [o for o in mine if o is not op and o.proc != op.proc]
    others.sort(key=lambda o: min(abs(o.start - op.start), abs(o.end - op.start)))
    return sorted([op] + others[: _NEARBY - 1], key=lambda o: o.start)


def _writers(mine: list[Operation]) -> list[Operation]:
    return [op for op in mine if op.op in WRITING_OPS or op.op == "materialize"][-_NEARBY:]


def _latest(mine: list[Operation]) -> list[Operation]:
    return mine[-_NEARBY:]
