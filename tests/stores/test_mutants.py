"""The mutant gallery: well-formed entries, stores that satisfy the interface, real SPEC ids."""

from __future__ import annotations

import os

import pytest

from conformance.api import requirements
from conformance.stores.mutants import KINDS, MUTANTS, Mutant
from conformance.protocol.client import CommandStore
from conformance.api.errors import Inconclusive
from conformance.stores.selection import open_store
from conformance.api.store import Store
from reference.store import ReferenceStore

STORE_MUTANTS = [m for m in MUTANTS.values() if m.kind == "store"]
PROGRAMS = [m for m in MUTANTS.values() if m.kind == "program"]
# Programs that break the protocol itself (the others misbehave only on the failpoint channel).
PROTOCOL_BREAKERS = [m for m in PROGRAMS if all(rid.startswith("ERR-") for rid in m.breaks)]
REQUIRED = {
    "upstream-stat-recheck", "append-to-zst", "reader-prefers-zst", "reader-first-frame-only",
    "reader-no-retry", "lists-temps", "lists-both-representations", "search-physical-keys",
    "materialize-clobbers", "materialize-loses-mode", "materialize-no-lock", "reopen-with-create",
    "resurrects-deleted", "archive-races-materialize", "verify-decodes-only", "compresses-torn-tail",
    "loses-mtime", "loses-mode", "temp-world-readable", "no-dir-fsync", "cleanup-by-age", "two-workers",
    "compresses-fresh", "follows-symlink-out-of-home",
}


def test_names_are_unique_keys_and_the_gallery_is_complete() -> None:
    assert all(isinstance(m, Mutant) and key == m.name for key, m in MUTANTS.items())
    assert REQUIRED <= set(MUTANTS)
    assert all(m.kind in KINDS for m in MUTANTS.values())
    assert len(PROGRAMS) >= 4


@pytest.mark.parametrize("mutant", MUTANTS.values(), ids=lambda m: m.name)
def test_breaks_only_real_spec_ids_and_says_what_it_mirrors(mutant: Mutant) -> None:
    known = requirements.load()
    assert mutant.breaks and all(rid in known for rid in mutant.breaks), mutant.breaks
    assert len(mutant.mirrors) > 20


@pytest.mark.parametrize("mutant", STORE_MUTANTS, ids=lambda m: m.name)
def test_store_mutant_factory_builds_a_store(mutant: Mutant, tmp_path) -> None:
    store = mutant.factory()
    try:
        assert isinstance(store, Store)
        assert isinstance(store, ReferenceStore) and type(store) is not ReferenceStore
        assert store.hello().name == f"mutant-{mutant.name}"
        store.configure(os.fspath(tmp_path), 0)
        assert store.list() == []
    finally:
        store.close()


@pytest.mark.parametrize("mutant", STORE_MUTANTS[:3], ids=lambda m: m.name)
def test_selection_opens_a_mutant_by_name(mutant: Mutant) -> None:
    store = open_store(f"mutant:{mutant.name}")
    try:
        assert store.hello().name == f"mutant-{mutant.name}"
    finally:
        store.close()


@pytest.mark.parametrize("mutant", PROTOCOL_BREAKERS, ids=lambda m: m.name)
def test_program_factory_starts_a_protocol_program(mutant: Mutant, tmp_path) -> None:
    """Each program speaks enough protocol to start; its misbehaviour is Inconclusive, never an answer."""
    try:
        store = mutant.factory()
    except Inconclusive as exc:  # lies in the handshake itself
        assert "protocol" in str(exc)
        return
    try:
        assert isinstance(store, CommandStore) and isinstance(store, Store)
        store.configure(os.fspath(tmp_path), 0)
        with pytest.raises(Inconclusive):
            store.create("sessions/2025/01/03/rollout-2025-01-03T12-00-00-"
                         "0b6c5a32-0d47-4d0a-9a51-1c3f3b2b4f11.jsonl", ['{"type":"session_meta","payload":{}}'])
    finally:
        store.close()


def test_scenarios_named_by_mutants_exist_in_the_race_harness() -> None:
    scenarios = pytest.importorskip("race_harness.scenarios")
    named = {s for m in MUTANTS.values() for s in m.scenarios}
    assert named <= set(scenarios.SCENARIOS), named - set(scenarios.SCENARIOS)


@pytest.mark.parametrize("name", sorted(n for n, m in MUTANTS.items() if m.kind == "store"))
def test_store_mutant_runs_a_worker_on_an_empty_home(tmp_path, name):
    """A mutant must fail only through its one bug, never by crashing on ordinary calls."""
    store = MUTANTS[name]()
    try:
        store.configure(str(tmp_path), 0)
        assert store.run_worker().ran
        assert store.list() == []
    finally:
        store.close()
