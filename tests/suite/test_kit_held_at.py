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


def test_a_declared_point_never_reported_is_inconclusive_naming_it(home):
    r = kit.make_rollout(home, old=True)
    with kit.failpoint_session("mutant:program-mutes-failpoints", home) as session:
        with pytest.raises(Inconclusive, match=r"failpoint 'compress\.after_encode'.*which it declares"):
            with session.held_at("compress.after_encode", session.store.compress, r.rel):
                pytest.fail("the block ran although the store never reported the point")


def test_an_undeclared_point_is_inconclusive_naming_it(home):
    r = kit.make_rollout(home, old=True)
    with kit.failpoint_session("reference", home) as session:
        with pytest.raises(Inconclusive, match=r"compress\.no_such_point"):
            with session.held_at("compress.no_such_point", session.store.compress, r.rel):
                pytest.fail("the block ran at a point the store does not declare")
        assert oracle.representations(home, r.rel) == (r.rel,), "the operation ran although nothing was held"
