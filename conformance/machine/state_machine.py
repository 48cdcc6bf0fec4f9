"""A public Hypothesis state machine for rollout stores: random operation sequences checked against a model.

:class:`RolloutStoreMachine` drives one store through the :class:`conformance.store_api.Store`
interface and keeps a model: logical path -> the lines the store acknowledged (plus the archived flag,
the representation a reader must select, and any crash leftover the machine planted on disk).  After
every step it checks, judging only through the disk with :mod:`conformance.oracle.disk` (never through the
store's own code) and through the Store interface:

* every logical rollout reads as the model says (content, representation, physical path);
* every ``.zst`` on disk decodes fully to whole JSON lines, and is never written to in place;
* each rollout has exactly one representation, except while the model knows a crash leftover is
  pending (two representations), and no rollout, temp or representation exists that the model lacks;
* ``list()`` and ``list(archived=True)`` report exactly the model's logical paths.

Reader rules (read, header, find, search) always run.  Rules run only when the store declared the
capability they need (``hello().capabilities``): create,
append, writers and materialize need ``writer``; compress, run_worker, cleanup and crash leftovers
need ``compressor``; archive, unarchive and delete need ``lifecycle``.  The store is configured with
a cold threshold of 0, so every plain rollout is cold; a rollout with an open writer must be
``skipped_busy``.  The compressor and lifecycle rules live in :mod:`conformance.machine.upkeep`, the
profiles, :func:`run_machine` and the requirement blaming in :mod:`conformance.machine.support`; every
public name stays importable from here.

Using it from your own tests (the suite's own test consumes it exactly this way)::

    from conformance.machine.state_machine import RolloutStoreMachine, machine_for, run_machine

    class MyStoreMachine(RolloutStoreMachine):
        store_selection = "cmd:/usr/local/bin/my-store --stdio"   # any conformance.stores.selection form

        # or, for an in-process store, override the hook (the home is a fresh temp dir per example):
        def make_store(self, home):
            store = MyStore()
            store.configure(str(home), 0)   # cold threshold 0: everything is cold
            return store

        # extend it: add @rule / @invariant methods; self.model, self.home and self.store are yours
        # to read (ModelRollout: path, lines, archived, rep, leftover); share_store = True reuses one
        # session across examples (the default for cmd: selections, whose start-up dominates)

    TestMyStore = MyStoreMachine.TestCase            # collected by pytest / unittest, or:

    def test_my_store():
        run_machine(MyStoreMachine, "smoke")        # or machine_for("py:my.mod:factory")

Settings profiles ``smoke`` (seconds), ``ci`` (the default) and ``nightly`` (many examples) are
registered with Hypothesis; :func:`profile_settings` picks one by argument, else by the environment
variable ``ROLLOUT_HYPOTHESIS_PROFILE``.  ``MyStoreMachine.TestCase`` uses the profile active when
the class was made by :func:`machine_for`; for subclasses set ``TestCase.settings`` yourself or use
:func:`run_machine`.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid as uuidlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, precondition, rule

from conformance.oracle import disk as oracle
from conformance.oracle import strategies
# The kit's public names live where their concern does; they stay importable from here.
from conformance.machine.support import (  # noqa: F401 (re-exported)
    DEFAULT_PROFILE, PROFILE_ENV, ModelRollout, RequirementViolation, blames, model_line, profile_name,
    profile_settings, run_machine,
)
from conformance.machine.upkeep import STALE_TEMP_AGE_NS, UpkeepRules  # noqa: F401 (re-exported)
from conformance.stores.selection import open_store
from conformance.api.errors import StoreError

MAX_ROLLOUTS = 4  # live rollouts at once: enough for interactions, few enough to check every step
_BASE = datetime(2025, 1, 3, 12, 0, 0, tzinfo=timezone.utc)
_SHARED: dict = {}  # selection -> store session shared across examples (see share_store)
atexit.register(lambda: [store.close() for store in _SHARED.values()])
# Line content from the shared strategies: raw U+2028/U+2029/U+0085 inside strings in half the draws.
_TEXT = strategies.message_text(12)


class RolloutStoreMachine(UpkeepRules, RuleBasedStateMachine):
    """Random operation sequences on one store, checked against a model after every step."""

    #: Any :func:`conformance.selection.open_store` form; used by the default :meth:`make_store`.
    store_selection = "reference"

    writers = Bundle("writers")  # open writer handles (opaque tokens)

    #: Reuse one store session across examples (re-``configure``d on each fresh home) instead of
    #: opening one per example; None means "for ``cmd:`` selections", whose start-up dominates.
    share_store: bool | None = None

    def make_store(self, home: Path):
        """A store configured on ``home`` with cold threshold 0; override to build your own."""
        share = self.share_store if self.share_store is not None else self.store_selection.startswith("cmd:")
        store = _SHARED.pop(self.store_selection, None) if share else None
        try:
            if store is not None:
                store.configure(os.fspath(home), 0)
        except Exception:  # the shared session ended (a crash in an earlier example): open a new one
            store = store.close()
        if store is None:
            store = open_store(self.store_selection)
            store.configure(os.fspath(home), 0)
        if share:
            _SHARED[self.store_selection] = store
        return store

    def __init__(self) -> None:
        super().__init__()
        self._tmp = tempfile.mkdtemp(prefix="rollout-sm-")
        self.home = Path(self._tmp, "home")
        (self.home / "sessions").mkdir(parents=True)
        (self.home / "archived_sessions").mkdir()
        self.model: dict[str, ModelRollout] = {}
        self.open_writers: dict[str, str] = {}  # handle -> rollout id
        self.closed_handles: list[str] = []
        self.temps: dict[str, bool] = {}  # planted temp (relative path) -> older than 6 h
        self.zst_held: dict[int, tuple[int, str]] = {}  # .zst inode -> (our O_RDONLY fd, sha256 at publish)
        self._n = self._t = 0
        self.last_step = ("setup", "DISC-001")  # (rule name, requirement) of the latest step
        self.store = None
        self.store = self.make_store(self.home)
        self.capabilities = frozenset(self.store.hello().capabilities)

    def teardown(self) -> None:
        try:
            if self.store is not None:
                for handle in self.open_writers:
                    with contextlib.suppress(StoreError):
                        self.store.close_writer(handle)
                if self.store is not _SHARED.get(self.store_selection):
                    self.store.close()
        finally:
            for fd, _ in self.zst_held.values():
                os.close(fd)
            shutil.rmtree(self._tmp, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------------------
    def blame(self, requirement: str) -> None:
        """Refine the requirement the current step checks, once the step knows what it exercises."""
        self.last_step = (self.last_step[0], requirement)

    def can(self, capability: str) -> bool:
        return capability in self.capabilities

    def live(self) -> list[ModelRollout]:
        return [r for r in self.model.values() if not r.deleted]

    def pick(self, data, keep=lambda r: True) -> ModelRollout | None:
        """One live rollout satisfying ``keep``, drawn by Hypothesis (None when there is none)."""
        ids = sorted(r.id for r in self.live() if keep(r))
        return self.model[data.draw(st.sampled_from(ids), label="rollout")] if ids else None

    def writers_on(self, rid: str) -> int:
        return list(self.open_writers.values()).count(rid)

    def expect_error(self, kind: str, op, *args):
        try:
            result = op(*args)
        except StoreError as exc:
            assert exc.kind == kind, f"{op.__name__}{args}: expected {kind}, got {exc.kind}: {exc}"
            return
        raise AssertionError(f"{op.__name__}{args} returned {result!r}; expected a {kind} error")

    def _new_rollout(self, texts, archived: bool = False, body: tuple[bytes, ...] = ()) -> tuple[ModelRollout, list[str]]:
        self._n += 1
        ident = str(uuidlib.UUID(int=self._n, version=4))
        name = oracle.rollout_name(_BASE + timedelta(minutes=self._n), ident)
        lines = [oracle.session_meta_line(ident).decode()[:-1]] + [model_line(f"c{i}", t) for i, t in enumerate(texts)]
        lines += [raw.decode()[:-1] for raw in body]
        return ModelRollout(ident, name, [(x + "\n").encode() for x in lines], archived), lines

    # -- rollouts written by the oracle, as fixtures are (so a reader-only store is exercised too) --
    @precondition(lambda self: len(self.live()) < MAX_ROLLOUTS)
    @rule(texts=st.lists(_TEXT, max_size=3), body=st.lists(strategies.json_object_line(), max_size=3),
          compressed=st.booleans(), archived=st.booleans())
    @blames("READ-002")
    def plant(self, texts, body, compressed, archived):
        r, _ = self._new_rollout(texts, archived, tuple(body))
        if compressed:
            oracle.write_zst(self.home, r.path + ".zst", r.data)
            r.rep = "zst"
        else:
            oracle.write_plain(self.home, r.path, r.data)
        self.model[r.id] = r

    @rule(data=st.data())
    @blames("DISC-005")
    def find(self, data):
        """DISC-005: find(id) gives the rollout's entry (None for an id no rollout carries)."""
        r = self.pick(data)
        ident = r.id if r else str(uuidlib.UUID(int=10**9 + self._n, version=4))
        entry = self.store.find(ident.upper() if data.draw(st.booleans(), label="upper") else ident)
        want = r and (r.path, r.rep, r.archived)
        assert (entry and (entry.path, entry.representation, entry.archived)) == want, f"find({ident}): {entry}"

    @precondition(lambda self: self.live())
    @rule(data=st.data())
    @blames("READ-011")
    def header(self, data):
        """READ-011: header gives the session_meta payload, whichever representation is selected."""
        r = self.pick(data)
        got = self.store.header(r.path)
        assert got == oracle.header_payload(r.data), f"header({r.path}) gave {got}"

    @precondition(lambda self: self.live())
    @rule(data=st.data())
    @blames("DISC-006")
    def search(self, data):
        """DISC-006: a rollout's id is found on its header line (and wherever else a line holds it), in its area."""
        r = self.pick(data)
        needle = r.id.encode()
        want = sorted((o.path, n) for o in self.live() if o.archived == r.archived
                      for n, line in enumerate(o.lines, start=1) if needle in line)
        got = sorted((h.path, h.line_number) for h in self.store.search(r.id, archived=r.archived))
        assert got == want, f"search({r.id}, archived={r.archived}) gave {got}, want {want}"

    # -- writer rules ----------------------------------------------------------------------------
    @precondition(lambda self: self.can("writer") and len(self.live()) < MAX_ROLLOUTS)
    @rule(texts=st.lists(_TEXT, max_size=3))
    @blames("APPEND-006")
    def create(self, texts):
        r, lines = self._new_rollout(texts)
        assert self.store.create(r.path, lines) == r.path
        self.model[r.id] = r

    @precondition(lambda self: self.can("writer") and self.live())
    @rule(data=st.data(), texts=st.lists(_TEXT, min_size=1, max_size=3))
    @blames("APPEND-002")
    def append(self, data, texts):
        r = self.pick(data)
        if r.rep == "zst":
            self.blame("MAT-001")
        lines = [model_line(f"a{self._n}.{i}", t) for i, t in enumerate(texts)]
        assert self.store.append(r.path, lines) == r.path
        r.lines += [(x + "\n").encode() for x in lines]
        if r.leftover == "equal":
            r.leftover = "prefix"  # the .zst beside it is stale now
        r.rep = "plain"

    @precondition(lambda self: self.can("writer") and self.live())
    @rule(target=writers, data=st.data())
    @blames("APPEND-005")
    def open_writer(self, data):
        r = self.pick(data)
        if r.rep == "zst":
            self.blame("MAT-001")
        handle = self.store.open_writer(r.path)
        self.open_writers[handle], r.rep = r.id, "plain"
        return handle

    @precondition(lambda self: self.can("writer"))
    @rule(writer=writers, text=_TEXT)
    @blames("APPEND-005")
    def write(self, writer, text):
        line = model_line(f"w{writer}", text)
        self.store.write(writer, line)
        r = self.model[self.open_writers[writer]]
        r.lines.append((line + "\n").encode())
        if r.leftover == "equal":
            r.leftover = "prefix"

    @precondition(lambda self: self.can("writer"))
    @rule(writer=consumes(writers))
    @blames("APPEND-005")
    def close_writer(self, writer):
        self.store.close_writer(writer)
        del self.open_writers[writer]
        self.closed_handles.append(writer)

    @precondition(lambda self: self.can("writer") and self.closed_handles)
    @rule(data=st.data())
    @blames("APPEND-005")
    def write_closed_handle(self, data):
        # Handles are opaque strings a store may hand out again (PROTOCOL.md): only a closed handle
        # that no open writer carries now must be refused.
        reusable = [h for h in self.closed_handles if h not in self.open_writers]
        if not reusable:
            return
        handle = data.draw(st.sampled_from(reusable), label="closed handle")
        self.expect_error("bad_request", self.store.write, handle, model_line("closed", ""))

    @precondition(lambda self: self.can("writer") and self.live())
    @rule(data=st.data())
    @blames("MAT-001")
    def materialize(self, data):
        r = self.pick(data)
        decoded = self.store.materialize(r.path)
        assert decoded == (r.rep == "zst"), f"materialize({r.path}) returned {decoded} with rep {r.rep}"
        r.rep = "plain"

    # -- reader rules ----------------------------------------------------------------------------
    @precondition(lambda self: self.live())
    @rule(data=st.data())
    @blames("READ-002")
    def read_physical(self, data):
        r = self.pick(data)
        self.check_read(r, r.path + ".zst" if r.rep == "zst" else r.path)

    @precondition(lambda self: any(r.deleted for r in self.model.values()))
    @rule(data=st.data(), op=st.sampled_from(["read", "append", "open_writer", "materialize", "delete"]))
    @blames("LIFE-005")
    def probe_deleted(self, data, op):
        """LIFE-005 / MAT-005: a deleted rollout is not_found and no operation brings it back."""
        ids = sorted(rid for rid, r in self.model.items() if r.deleted)
        r = self.model[data.draw(st.sampled_from(ids), label="deleted rollout")]
        needs = {"read": "reader", "delete": "lifecycle"}.get(op, "writer")
        if self.can(needs):
            args = (r.path, [model_line("ghost", "")]) if op == "append" else (r.path,)
            self.expect_error("not_found", getattr(self.store, op), *args)

    # -- invariants ------------------------------------------------------------------------------
    def check_read(self, r: ModelRollout, path: str) -> None:
        result = self.store.read(path)
        assert result.content == r.data, f"read({path}) content differs from the acknowledged lines"
        assert result.representation == r.rep, f"read({path}) selected {result.representation}, not {r.rep}"
        physical = r.path if r.rep == "plain" else r.path + ".zst"
        assert result.physical_path == physical, f"read({path}) physical_path {result.physical_path}"
        if (result.items, result.parse_errors) != (len(r.lines), 0):  # the bytes are right: the counting is not
            raise RequirementViolation("READ-007", f"read({path}) counted {(result.items, result.parse_errors)} "
                                       f"for {len(r.lines)} JSON object lines")

    def check_zst_inodes(self, on_disk) -> None:
        """APPEND-001: a published .zst inode keeps its bytes until unlinked (an open fd pins the inode)."""
        for ino, (fd, digest) in list(self.zst_held.items()):
            if os.fstat(fd).st_nlink == 0:
                os.close(fd)
                del self.zst_held[ino]
                continue
            os.lseek(fd, 0, os.SEEK_SET)
            with open(fd, "rb", closefd=False) as f:
                now = hashlib.sha256(f.read()).hexdigest()
            if now != digest:
                where = [p for p, s in on_disk.items() if s.ino == ino]
                raise RequirementViolation("APPEND-001", f"a published .zst (inode {ino}, now {where}) was written to")
        for rel, state in on_disk.items():
            if state.kind == "zst" and state.ino not in self.zst_held:
                self.zst_held[state.ino] = (os.open(self.home / rel, os.O_RDONLY | os.O_NOFOLLOW), state.sha256)

    @invariant()
    def check_home(self) -> None:
        """Disk first (oracle), then every read and listing through the store; a failure is filed
        under the requirement of the step just taken (or of the specific check that failed)."""
        step, rid = self.last_step
        try:
            self._check_home()
        except RequirementViolation:
            raise
        except (AssertionError, StoreError) as exc:
            raise RequirementViolation(rid, f"after step {step}: {exc}") from exc

    def _check_home(self) -> None:
        snap = oracle.snapshot(self.home)
        expected = [p for r in self.live() for p, rep in ((r.path, "plain"), (r.path + ".zst", "zst"))
                    if r.leftover or r.rep == rep]
        on_disk = {p: s for p, s in snap.items() if s.kind in ("plain", "zst")}
        for rel, state in on_disk.items():
            assert state.kind != "zst" or state.whole_lines, f"{rel} does not decode to whole JSON lines"
        self.check_zst_inodes(on_disk)
        assert sorted(on_disk) == sorted(expected), \
            f"representations on disk {sorted(on_disk)} != model {sorted(expected)}"
        temps = sorted(p for p, s in snap.items() if s.kind == "temp")
        assert temps == sorted(self.temps), f"temps on disk {temps}, model knows {sorted(self.temps)}"
        for r in self.live():
            if r.rep == "zst" and not r.leftover:
                assert oracle.logical_content(self.home, r.path) == r.data, f"{r.path}.zst holds other bytes"
            if r.leftover == "prefix":
                zst = oracle.decode_zst(self.home / (r.path + ".zst"))
                assert r.data.startswith(zst) and len(zst) < len(r.data), f"{r.path}: plain must extend the .zst"
            self.check_read(r, r.path)
        for archived in (False, True):
            entries = self.store.list(archived=archived)
            want = {r.path: r.rep for r in self.live() if r.archived == archived}
            got = {e.path: e.representation for e in entries}
            if not (len(entries) == len(got) and got == want):
                raise RequirementViolation("DISC-001", f"list(archived={archived}) gave {got}, want {want}")


def machine_for(selection: str) -> type[RolloutStoreMachine]:
    """A subclass of :class:`RolloutStoreMachine` bound to ``selection``, its TestCase on the active profile."""
    machine = type(f"RolloutStoreMachine[{selection}]", (RolloutStoreMachine,), {"store_selection": selection})
    machine.TestCase.settings = profile_settings()
    return machine
