"""Cross-scheme pairings: which ones a store's declarations make relevant, and that one catches a
bug in one scheme's half that the store's other half hides from its own compressor."""

from __future__ import annotations

import subprocess
import sys

from conformance.cli.check import _plan
from race_harness.pairing import pairing_config, pairings, run_pairing
from race_harness.roles import Roles

BOTH = ("inode-flock", "codex-thread-locks")
FULL = ("reader", "writer", "compressor", "lifecycle")


def test_a_two_scheme_store_meets_each_single_scheme_reference_on_both_sides():
    found = {(p.half, p.scheme): p for p in pairings("cmd:./store", FULL, BOTH)}
    assert set(found) == {(half, scheme) for half in ("writer", "compressor") for scheme in BOTH}
    assert found[("writer", "codex-thread-locks")].roles == Roles("cmd:./store", "reference:codex-thread-locks",
                                                                  "cmd:./store")
    assert found[("compressor", "inode-flock")].roles == Roles("reference:inode-flock", "cmd:./store",
                                                               "reference:inode-flock")
    assert found[("writer", "codex-thread-locks")].requirement == "CTL-001"
    assert found[("compressor", "inode-flock")].requirement == "COORD-003"
    assert "compressor reference:codex-thread-locks" in found[("writer", "codex-thread-locks")].name


def test_only_declared_schemes_and_capabilities_make_pairings():
    writer_only = pairings("cmd:./w", ("writer",), ("codex-thread-locks",))
    assert [(p.half, p.scheme, p.roles.reader) for p in writer_only] == [
        ("writer", "codex-thread-locks", "reference:codex-thread-locks")]  # no reader: the reference reads back
    assert pairings("cmd:./r", ("reader",), BOTH) == []
    assert pairings("cmd:./none", FULL, ()) == []
    # a single-scheme reference would only meet itself
    assert pairings("reference:inode-flock", FULL, ("inode-flock",)) == []


class _Hello:
    capabilities = FULL
    coordination = BOTH


class _Args:
    profile = "full"
    seconds = 5.0
    store = "mutant:close-unlinks-shared-thread-lock"


def test_check_announces_its_pairings():
    _, plan = _plan(_Args, _Hello)
    assert "4 cross-scheme pairing campaign(s)" in plan
    assert "writers of mutant:close-unlinks-shared-thread-lock vs compressor reference:codex-thread-locks" in plan


def test_a_writer_that_unlinks_a_shared_thread_lock_loses_lines_to_a_thread_lock_compressor(tmp_path):
    """close-unlinks-shared-thread-lock passes against itself (its inode locks stop its own
    compressor); its writers against reference:codex-thread-locks lose lines, filed under CTL-001."""
    pairing = next(p for p in pairings("mutant:close-unlinks-shared-thread-lock", FULL, BOTH)
                   if (p.half, p.scheme) == ("writer", "codex-thread-locks"))
    verdict = run_pairing(pairing, pairing_config(20.0, 0), str(tmp_path))
    assert verdict.status == "violation", verdict.describe()
    lost = [v for v in verdict.violations if v.cls == "lost_line"]
    assert lost and {v.requirement for v in lost} == {"CTL-001"}, verdict.describe()
    assert verdict.name.startswith("pairing writers of mutant:close-unlinks-shared-thread-lock")
    assert any("cross-scheme pairing" in note for note in verdict.notes)


def test_race_cross_schemes_needs_random_and_a_store():
    done = subprocess.run([sys.executable, "-m", "conformance.cli", "race", "--store", "reference", "--cross-schemes"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--cross-schemes" in done.stderr, done.stderr
