"""The public state machine (conformance.machine.state_machine) run against the selected store.

Random sequences of create, append, writers, read, header, find, search, compress, worker runs, materialize, archive,
unarchive, delete and simulated crash leftovers with cleanup, checked after every step against a
model through the disk (conformance.oracle.disk) and the Store interface.  Rules whose capability the
store did not declare are not run; the profile comes from ROLLOUT_HYPOTHESIS_PROFILE (default ci).
Line content comes from conformance.oracle.strategies (raw U+2028/U+2029/U+0085 inside strings); a read with
the right bytes but other counts is filed under READ-007.  The test is tagged with every id a step may
be blamed on except the lifecycle ids: tagging them would skip the whole machine for a writer+compressor
store; the lifecycle rules run exactly when the store declares ``lifecycle``, and a failure blamed on a
lifecycle id counts for ``selftest`` only where a test tagged with that id fails too.
"""

import pytest

from conformance.machine.state_machine import machine_for, run_machine


@pytest.mark.req(
    "READ-001", "READ-002", "READ-007", "READ-011", "DISC-001", "DISC-005", "DISC-006", "APPEND-001", "APPEND-002", "APPEND-005",
    "APPEND-006", "MAT-001", "COMP-001", "COMP-002", "COMP-003", "COMP-014", "COORD-003", "COORD-009",
    "RECOVER-001", "RECOVER-002", "RECOVER-007",
)
def test_state_machine(store_selection, suite_seed):
    """Model-based: every acknowledged line readable, one representation, .zst whole (upstream cases 1, 6, 7).
    A failure is filed under the requirement of the step that failed; the run's seed fixes the steps."""
    run_machine(machine_for(store_selection), seed=suite_seed)
