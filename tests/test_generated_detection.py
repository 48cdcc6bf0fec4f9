"""Generated inputs catch what listed ones miss, and each catch is filed under the broken requirement:
the state machine (its line content from conformance.strategies) blames the failing check's id only."""

from __future__ import annotations

import os

import pytest
from hypothesis import Phase

from conformance.mutants import MUTANTS
from conformance.state_machine import RequirementViolation, RolloutStoreMachine, run_machine


def _machine_on(mutant: str) -> type[RolloutStoreMachine]:
    class OnMutant(RolloutStoreMachine):
        def make_store(self, home):
            store = MUTANTS[mutant]()
            store.configure(os.fspath(home), 0)
            return store

    return OnMutant


def test_state_machine_files_a_splitlines_reader_under_read_007():
    """Right bytes, wrong counts: the machine's generated lines hold raw U+2028 and friends, and the
    failure names READ-007 whichever rule happened to read (not READ-002, APPEND-002, ...)."""
    with pytest.raises(RequirementViolation) as caught:
        run_machine(_machine_on("splitlines-reader"), "smoke", seed=7, max_examples=50,
                    report_multiple_bugs=False, phases=[Phase.explicit, Phase.generate])
    assert caught.value.requirement == "READ-007", caught.value
    assert "JSON object lines" in str(caught.value)
