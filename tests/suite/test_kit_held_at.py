"""Issue 20, item 5: ``FailpointSession.held_at`` is the suite's one way to hold a store at a failpoint:
the operation waits there while the block runs, finishes after it, and a point the store declares but
never reports (or does not declare) makes the test inconclusive, naming the point."""

from __future__ import annotations

import pytest

from conformance.api.errors import Inconclusive
from conformance.oracle import disk as oracle
from conformance.suite import kit


@pytest.fixture
def home(tmp_path):
    root = tmp_path / "home"
    (root / "sessions").mkdir(parents=True)
    (root / "archived_sessions").mkdir()
    return root


def test_the_operation_waits_at_the_point_while_the_block_runs(home):
    r = kit.make_rollout(home, old=True)
    with kit.failpoint_session("reference", home) as session:
        with session.held_at("compress.after_publish", session.store.compress, r.rel) as outcome:
            assert outcome == {}, "the operation returned while held"
            assert oracle.representations(home, r.rel) == (r.rel, r.zst), "not held between publish and unlink"
        assert outcome == {"value": "compressed"}
    assert oracle.representations(home, r.rel) == (r.zst,)


@pytest.mark.parametrize("selection, point, why", [
    ("mutant:program-mutes-failpoints", "compress.after_encode", "which it declares"),  # declared, never reported
    ("reference", "compress.no_such_point", "but not the points"),  # not declared
])
def test_a_point_the_store_does_not_report_is_inconclusive_naming_it(home, selection, point, why):
    r = kit.make_rollout(home, old=True)
    with kit.failpoint_session(selection, home) as session:
        with pytest.raises(Inconclusive) as raised:
            with session.held_at(point, session.store.compress, r.rel):
                pytest.fail(f"the block ran although the store never reported {point}")
    assert point in str(raised.value) and why in str(raised.value), raised.value
