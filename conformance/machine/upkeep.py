"""The state machine's compressor and lifecycle rules: the steps that move a rollout between
representations (compress, the worker, crash leftovers and their recovery) and between areas
(archive, unarchive, delete), each checked against the model it updates.

:class:`UpkeepRules` is a mixin of :class:`conformance.state_machine.RolloutStoreMachine`: it reads the
machine's model, store and helpers (``pick``, ``live``, ``writers_on``, ``expect_error``, ``check_home``).
"""

from __future__ import annotations

import time

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from conformance.oracle import disk as oracle
from conformance.machine.support import ModelRollout, blames, model_line
from conformance.api.errors import StoreError

STALE_TEMP_AGE_NS = int(oracle.STALE_TEMP_AGE * 10**9)  # older than recovery's 6 hours


def _leftover_requirement(machine, data, kind, recover) -> str:
    """The requirement a planted crash leftover exercises: an equal pair, a stale prefix, or temps."""
    return {"equal": "RECOVER-001", "prefix": "RECOVER-002"}.get(kind, "COMP-014")


class UpkeepRules:
    """Compressor rules (declared ``compressor``) and lifecycle rules (declared ``lifecycle``)."""

    def resolve_leftover(self, r: ModelRollout) -> None:
        if r.leftover == "equal":
            r.rep = "zst"  # the interrupted compression is completed: plain removed
        r.leftover = None  # "prefix": the stale .zst removed, plain kept

    def _recovery_expectations(self, reconciled, temps_removed) -> None:
        for r in self.live():
            if r.leftover and not self.writers_on(r.id):
                assert r.path in reconciled, f"recovery did not reconcile {r.path} ({r.leftover}): {reconciled}"
                self.resolve_leftover(r)
        stale = sorted(t for t, old in self.temps.items() if old)
        assert sorted(set(temps_removed) & set(self.temps)) == stale, \
            f"stale temps {stale} not removed exactly (fresh ones must stay): {temps_removed}"
        for t in stale:
            del self.temps[t]

    # -- compressor rules ------------------------------------------------------------------------
    @precondition(lambda self: self.can("compressor") and self.live())
    @rule(data=st.data())
    @blames("COMP-001")
    def compress(self, data):
        r = self.pick(data, lambda r: not r.leftover)
        if r is None:
            return
        outcome = self.store.compress(r.path)
        expected = "skipped_already_compressed" if r.rep == "zst" else \
            "skipped_busy" if self.writers_on(r.id) else "compressed"
        if expected == "skipped_busy":
            self.blame("COORD-009")  # compressing under an open writer loses its later lines
        assert outcome == expected, f"compress({r.path}) gave {outcome}, expected {expected}"
        if outcome == "compressed":
            r.rep = "zst"

    @precondition(lambda self: self.can("compressor"))
    @rule()
    @blames("COMP-002")
    def run_worker(self):
        report = self.store.run_worker()
        assert report.ran, "run_worker did not run though no other run holds the home"
        self._recovery_expectations(report.reconciled, report.temps_removed)
        for r in self.live():
            got = report.outcomes.get(r.path)
            if r.leftover:  # kept because a writer holds it
                assert got in (None, "skipped_busy", "skipped_already_compressed"), f"{r.path}: {got}"
            elif self.writers_on(r.id):
                assert got == "skipped_busy", f"{r.path} has an open writer: outcome {got}, expected skipped_busy"
            elif r.rep == "plain":
                assert got == "compressed", f"cold plain {r.path}: outcome {got}, expected compressed"
                r.rep = "zst"

    @precondition(lambda self: self.can("compressor"))
    @rule()
    @blames("RECOVER-001")
    def cleanup(self):
        report = self.store.cleanup()
        assert not report.conflicts, f"cleanup reported conflicts {report.conflicts}; no pair diverged"
        self._recovery_expectations(report.reconciled, report.temps_removed)

    @precondition(lambda self: self.can("compressor") and self.live())
    @rule(data=st.data(), kind=st.sampled_from(["equal", "prefix", "stale_temp", "fresh_temp"]), recover=st.booleans())
    @blames(_leftover_requirement)
    def crash_leftover(self, data, kind, recover):
        """Leave on disk what a SIGKILLed compress/materialize leaves (SPEC 5.3); maybe recover at once."""
        r = self.pick(data, lambda r: not r.leftover)
        if r is None:
            return
        if kind in ("stale_temp", "fresh_temp"):
            self._t += 1
            rel = f"{r.path}.zst.compress.{99000 + self._n}.{self._t}.tmp"
            age = STALE_TEMP_AGE_NS if kind == "stale_temp" else 0
            oracle.write_plain(self.home, rel, r.data[: len(r.data) // 2], 0o600, time.time_ns() - age)
            self.temps[rel] = kind == "stale_temp"
        elif kind == "equal":  # crash after publish (plain + equal .zst) or before unlinking the .zst
            if r.rep == "plain":
                oracle.write_zst(self.home, r.path + ".zst", r.data)
            else:
                oracle.write_plain(self.home, r.path, r.data)
            r.rep, r.leftover = "plain", "equal"
        elif r.rep == "plain":  # stale .zst of a prefix: compressed, crash, plain appended since
            if len(r.lines) < 2:
                return
            keep = data.draw(st.integers(1, len(r.lines) - 1), label="lines in the stale .zst")
            oracle.write_zst(self.home, r.path + ".zst", b"".join(r.lines[:keep]))
            r.leftover = "prefix"
        else:  # materialized, an acknowledged append, then a crash before the .zst was unlinked
            r.lines.append((model_line("crash", "") + "\n").encode())
            oracle.write_plain(self.home, r.path, r.data)
            r.rep, r.leftover = "plain", "prefix"
        self.check_home()
        if recover:
            self.cleanup()

    @precondition(lambda self: self.can("compressor") and not all(self.temps.values()))
    @rule()
    @blames("COMP-014")
    def age_temps(self):
        for rel, old in self.temps.items():
            if not old:
                oracle.backdate(self.home, rel, seconds=oracle.STALE_TEMP_AGE)
                self.temps[rel] = True

    # -- lifecycle rules -------------------------------------------------------------------------
    @precondition(lambda self: self.can("lifecycle") and self.live())
    @rule(data=st.data())
    @blames("LIFE-001")
    def archive(self, data):
        r = self.pick(data)
        if r.archived:  # LIFE-001: returns its path and changes nothing (a pair may also say conflict)
            try:
                assert self.store.archive(r.path) == r.path
            except StoreError as exc:
                assert r.leftover and exc.kind == "conflict", f"archive of archived {r.path}: {exc.kind}: {exc}"
            return
        if r.leftover:
            return self.expect_error("conflict", self.store.archive, r.path)
        assert self.store.archive(r.path) == oracle.archived_path(r.name)
        r.archived = True

    @precondition(lambda self: self.can("lifecycle") and any(r.archived for r in self.live()))
    @rule(data=st.data())
    @blames("LIFE-002")
    def unarchive(self, data):
        r = self.pick(data, lambda r: r.archived)
        if r.leftover:
            return self.expect_error("conflict", self.store.unarchive, r.path)
        assert self.store.unarchive(r.path) == oracle.active_path(r.name)
        r.archived = False

    @precondition(lambda self: self.can("lifecycle") and self.live())
    @rule(data=st.data())
    @blames("LIFE-005")
    def delete(self, data):
        # a rollout with an open writer is busy after a bounded wait (LIFE-006): its own test, too slow here
        r = self.pick(data, lambda r: not self.writers_on(r.id))
        if r is None:
            return
        self.store.delete(r.path)
        r.deleted, r.leftover = True, None
