"""Differential testing: the same requests to two stores on identical homes, every difference reported.

Contract: :func:`run_diff` builds one home from the fixture corpus, copies it (modes and mtimes
kept), configures store A on one copy and store B on the other, and sends both the same seeded,
random sequence of requests of the capabilities both declared.  After each request it compares
the answers (normalised: writer handles by order of issue, no mtimes, no byte counts of
implementation-chosen encodings) and the disk (the oracle's view: kinds, logical content, modes,
the number of temps).  The first difference is shrunk to a shorter sequence that still shows it,
replayed on fresh homes.  Differences in answers that SPEC.md leaves open are differences too:
what no requirement names yet is exactly what this finds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import fixtures
from conformance.oracle import disk as oracle
from conformance.api.errors import Inconclusive
from conformance.stores.selection import open_store
from conformance.api.errors import StoreError

#: Corpus cases every differential home starts from (no symlinks: those point at one home's outside).
CASES = ("plain_rollout", "compressed_rollout", "both_equal", "both_stale_zst", "multi_frame_zst",
         "archived_rollouts", "torn_last_line", "header_junk_first", "bom", "temps_stale_and_fresh",
         "fork_plain_child", "modes_0600_0400")
LINES = ('{"type":"event_msg","payload":{"message":"hello"}}', '{"u":"\u2028 \u0085 \u00e9"}', "not json",
         '{"a": NaN}', "", "  ", '{"r":"carriage\\r"}', '{"big":"' + "x" * 5000 + '"}')
_CREATED_AT = datetime(2025, 2, 1, 9, 30, tzinfo=timezone.utc)
SEARCH = ("hello", "session_meta", "\u00e9", "x" * 20, "needle-absent", "")
#: The requirements each operation's answer is about (what a difference there concerns).
CONCERNS = {
    "read": ("READ-001", "READ-002", "READ-005", "READ-007", "ERR-002", "ERR-003"),
    "header": ("READ-011", "READ-012", "ERR-003"),
    "list": ("DISC-001", "DISC-002", "DISC-004"),
    "find": ("DISC-005",),
    "search": ("DISC-006", "DISC-007"),
    "create": ("APPEND-006",),
    "append": ("APPEND-002", "APPEND-003", "APPEND-004", "MAT-001", "MAT-005"),
    "open_writer": ("APPEND-005", "MAT-001"),
    "write": ("APPEND-005", "APPEND-007"),
    "close_writer": ("APPEND-007",),
    "materialize": ("MAT-001", "MAT-002", "MAT-003", "MAT-004"),
    "compress": ("COMP-001", "COMP-003", "COMP-006", "COMP-008", "COMP-009"),
    "run_worker": ("COMP-002", "COMP-014", "RECOVER-001", "RECOVER-002", "RECOVER-003"),
    "cleanup": ("RECOVER-001", "RECOVER-002", "RECOVER-003", "COMP-014"),
    "archive": ("LIFE-001", "LIFE-003", "LIFE-004"),
    "unarchive": ("LIFE-002", "LIFE-003", "LIFE-004"),
    "delete": ("LIFE-005",),
}
OPS_BY_CAPABILITY = {
    "reader": ("read", "header", "list", "find", "search"),
    "writer": ("create", "append", "open_writer", "write", "close_writer", "materialize"),
    "compressor": ("compress", "run_worker", "cleanup"),
    "lifecycle": ("archive", "unarchive", "delete"),
}


@dataclass(frozen=True)
class Request:
    op: str
    args: tuple

    def __str__(self) -> str:
        shown = ", ".join(repr(a)[:200] for a in self.args)
        return f"{self.op}({shown})"


@dataclass(frozen=True)
class Difference:
    """The first request after which the two stores disagree, in answer or on disk."""

    step: int
    request: Request
    answer_a: object
    answer_b: object
    disk: tuple[str, ...]  # paths whose state differs (empty: the answers differ)
    concerns: tuple[str, ...]
    sequence: tuple[Request, ...]  # the (shrunk) requests that lead to it, last one included

    def as_dict(self) -> dict:
        return {"step": self.step, "request": str(self.request), "answer_a": repr(self.answer_a),
                "answer_b": repr(self.answer_b), "disk": list(self.disk), "concerns": list(self.concerns),
                "sequence": [str(r) for r in self.sequence]}


@dataclass
class DiffResult:
    store_a: str
    store_b: str
    seed: int
    steps: int
    status: str  # "same" | "different" | "inconclusive"
    difference: Difference | None = None
    note: str = ""
    capabilities: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["difference"] = self.difference.as_dict() if self.difference else None
        return out


def build_home(root: Path) -> Path:
    home = root / "home"
    (home / "sessions").mkdir(parents=True)
    (home / "archived_sessions").mkdir()
    for case in CASES:
        fixtures.install(case, home)
    # Group-readable modes, which the corpus (0600/0400) lacks: a mode lost on the way shows.
    for minute, compressed in ((41, True), (42, False)):
        ident = f"00000000-0000-4000-8000-0000000000{minute}"
        rel = oracle.active_path(oracle.rollout_name(_CREATED_AT.replace(minute=minute), ident))
        data = oracle.session_meta_line(ident) + oracle.user_message_line(f"mode 0640 ({minute})")
        write = oracle.write_zst if compressed else oracle.write_plain
        write(home, rel + (".zst" if compressed else ""), data, 0o640, time.time_ns() - 9 * 86_400 * 10**9)
    return home


def _normalise(op: str, value, handles: dict[str, str]):
    if isinstance(value, StoreError):
        return ("error", value.kind, value.path)
    if op == "open_writer":
        handles[value] = f"#h{len(handles) + 1}"
        return handles[value]
    if op == "read":
        return (hashlib.sha256(value.content).hexdigest(), value.items, value.parse_errors, value.representation,
                value.physical_path)
    if op in ("list", "find"):
        entries = value if op == "list" else ([] if value is None else [value])
        return [(e.path, e.physical_path, e.id, e.archived, e.representation) for e in entries]
    if op == "search":
        return [(h.path, h.line_number) for h in value]
    if op == "run_worker":
        return (value.ran, sorted(value.outcomes.items()), len(value.temps_removed), sorted(value.reconciled))
    if op == "cleanup":
        return (len(value.temps_removed), sorted(value.reconciled), sorted(value.conflicts))
    return value


def _disk(home: Path) -> dict:
    state = {}
    temps = 0
    for rel, s in oracle.snapshot(home).items():
        if s.kind == "temp":
            temps += 1  # temp names carry pids: only their number is comparable
            continue
        if rel.startswith(".tmp/"):
            state[rel] = "present"  # run lock / marker content (pid, time) is for people, not compared
            continue
        content = s.decoded_sha256 if s.kind == "zst" else s.sha256
        state[rel] = (s.kind, content, s.mode)
    state["<temps>"] = temps
    return state


class _Pair:
    """Store A and store B, each on its own copy of one home."""

    def __init__(self, store_a: str, store_b: str, root: Path) -> None:
        self.homes = (build_home(root / "a"),)
        shutil.copytree(root / "a", root / "b", symlinks=True)
        self.homes += (root / "b" / "home",)
        self.stores = []
        for selection, home in zip((store_a, store_b), self.homes):
            store = open_store(selection)
            self.stores.append(store)
            store.configure(os.fspath(home), 0)
        self.handles: tuple[dict, dict] = ({}, {})  # store handle -> canonical, per store
        self.issued: tuple[dict, dict] = ({}, {})  # canonical -> store handle, per store

    def send(self, request: Request) -> tuple[object, object]:
        answers = []
        for i, store in enumerate(self.stores):
            args = request.args
            if request.op in ("write", "close_writer"):  # canonical handle -> this store's own string
                args = (self.issued[i].get(args[0], args[0]),) + args[1:]
            try:
                value = getattr(store, request.op)(*args)
            except StoreError as exc:
                value = exc
            answer = _normalise(request.op, value, self.handles[i])
            if request.op == "open_writer" and not isinstance(value, StoreError):
                self.issued[i][answer] = value
            answers.append(answer)
        return answers[0], answers[1]

    def disk_difference(self) -> tuple[str, ...]:
        a, b = _disk(self.homes[0]), _disk(self.homes[1])
        return tuple(sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k)))

    def close(self) -> None:
        for store in self.stores:
            store.close()


def _paths(home: Path) -> list[str]:
    """Logical rollout paths present at the start (plus their other spellings, added by the generator)."""
    found = set()
    for rel, s in oracle.snapshot(home).items():
        if s.kind in ("plain", "zst"):
            found.add(rel.removesuffix(".zst"))
    return sorted(found)


def _uuid_of(logical: str) -> str:
    return logical[-len("00000000-0000-0000-0000-000000000000.jsonl"):-len(".jsonl")]


def corpus_sweep(capabilities: set[str], paths: list[str], home: Path) -> list[Request]:
    """Every read-only question about every corpus rollout, in every spelling, before anything changes."""
    if "reader" not in capabilities:
        return []
    requests = [Request("list", (False,)), Request("list", (True,))]
    for path in paths:
        for spelled in (path, path + ".zst", str(home / path)):
            requests += [Request("read", (spelled,)), Request("header", (spelled,))]
        requests.append(Request("find", (_uuid_of(path),)))
    requests += [Request("search", (text, archived)) for text in SEARCH for archived in (False, True)]
    return requests


def generate(rng: random.Random, steps: int, capabilities: set[str], paths: list[str], home: Path) -> list[Request]:
    """The corpus sweep, then ``steps`` seeded random requests using only ops of ``capabilities``."""
    ops = [op for cap, names in OPS_BY_CAPABILITY.items() if cap in capabilities for op in names]
    requests, handles, created = corpus_sweep(capabilities, paths, home), 0, 0
    for _ in range(steps):
        op = rng.choice(ops)
        path = rng.choice(paths)
        spelled = rng.choice([path, path + ".zst", str(home / path)]) if rng.random() < 0.3 else path
        if op in ("read", "header", "materialize", "compress", "archive", "unarchive", "delete"):
            args = (spelled,)
        elif op in ("list", "cleanup", "run_worker"):
            args = (rng.random() < 0.5,) if op == "list" else ()
        elif op == "find":
            args = (rng.choice([_uuid_of(p) for p in paths] + ["not-a-uuid", _uuid_of(paths[0]).upper()]),)
        elif op == "search":
            args = (rng.choice(SEARCH), rng.random() < 0.3)
        elif op == "create":
            created += 1
            ident = f"00000000-0000-4000-8000-{created:012d}"
            name = oracle.rollout_name(_CREATED_AT, ident)
            args = (oracle.active_path(name), [oracle.session_meta_line(ident).decode().rstrip("\n")])
        elif op == "append":
            args = (spelled, [rng.choice(LINES) for _ in range(rng.randint(1, 2))])
        elif op == "open_writer":
            handles += 1
            args = (spelled,)
        else:  # write, close_writer
            if not handles:
                continue
            handle = f"#h{rng.randint(1, handles)}"
            args = (handle, rng.choice(LINES)) if op == "write" else (handle,)
        requests.append(Request(op, args))
    return requests


def replay(store_a: str, store_b: str, requests: list[Request]) -> tuple[int, Difference] | None:
    """Send ``requests`` to fresh stores on fresh homes; the first difference, or None."""
    with tempfile.TemporaryDirectory(prefix="rollout-diff-") as tmp:
        pair = _Pair(store_a, store_b, Path(tmp))
        try:
            for step, request in enumerate(requests):
                a, b = pair.send(request)
                disk = pair.disk_difference()
                if a != b or disk:
                    return step, Difference(step, request, a, b, disk, CONCERNS.get(request.op, ()),
                                            tuple(requests[: step + 1]))
        finally:
            pair.close()
    return None


def shrink(store_a: str, store_b: str, found: Difference, budget_s: float = 60.0) -> Difference:
    """Remove chunks of earlier requests (halves, then quarters, ... then single ones) while the
    same operation still shows a difference; the differing request itself always stays last."""
    best, deadline = found, time.monotonic() + budget_s
    chunk = max(1, (len(best.sequence) - 1) // 2)
    while chunk >= 1 and time.monotonic() < deadline:
        i = 0
        while i + chunk <= len(best.sequence) - 1 and time.monotonic() < deadline:
            candidate = list(best.sequence[:i] + best.sequence[i + chunk :])
            again = replay(store_a, store_b, candidate)
            if again is not None and again[1].request.op == found.request.op:
                best = again[1]  # keep i: the next chunk has moved into this place
            else:
                i += chunk
        chunk //= 2
    return best


def run_diff(store_a: str, store_b: str = "reference", seed: int = 0, steps: int = 200,
             shrink_budget_s: float = 60.0) -> DiffResult:
    """One differential run (see the module docstring)."""
    try:
        with tempfile.TemporaryDirectory(prefix="rollout-diff-") as tmp:
            pair = _Pair(store_a, store_b, Path(tmp))
            try:
                declared = [set(s.hello().capabilities) for s in pair.stores]
                capabilities = declared[0] & declared[1] & set(OPS_BY_CAPABILITY)
                requests = generate(random.Random(seed), steps, capabilities, _paths(pair.homes[0]), pair.homes[0])
            finally:
                pair.close()
        found = replay(store_a, store_b, requests)
        if found is None:
            return DiffResult(store_a, store_b, seed, len(requests), "same", capabilities=tuple(sorted(capabilities)))
        return DiffResult(store_a, store_b, seed, len(requests), "different", shrink(store_a, store_b, found[1],
                          shrink_budget_s), capabilities=tuple(sorted(capabilities)))
    except Inconclusive as exc:
        return DiffResult(store_a, store_b, seed, steps, "inconclusive", note=str(exc))
