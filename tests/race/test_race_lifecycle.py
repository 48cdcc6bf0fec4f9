"""Campaigns issue the lifecycle ops of a store that declares them, during writes, and the checker
judges them soundly: a line a delete may have removed is not lost, a delete under an open writer is
a LIFE-006 violation, an acknowledged archive that moved nothing a LIFE-001 one, and a store that did
not declare ``lifecycle`` is never asked to move anything."""

from __future__ import annotations

import sys

from helpers.campaigns import campaign, violations_of

LIFECYCLE_OPS = ("archive", "unarchive", "delete")


def _acknowledged(verdict, op: str) -> int:
    return verdict.stats["operations"].get(op, {}).get("ok", 0)


def test_reference_passes_with_deletes_and_archives_racing_writes(tmp_path):
    """Acknowledged lines of deleted rollouts are not lost; the rollouts are created again and written on."""
    verdict = campaign("reference", tmp_path, seed=5)
    assert verdict.status == "passed", verdict.describe()
    assert all(_acknowledged(verdict, op) for op in LIFECYCLE_OPS), verdict.stats["operations"]
    assert _acknowledged(verdict, "write") + _acknowledged(verdict, "append"), verdict.stats["operations"]


def test_a_delete_under_an_open_writer_is_filed_under_life_006(tmp_path):
    """The gallery's delete-ignores-writers, caught by a campaign (the first seed that shows it)."""
    _, found = violations_of("deleted_while_open", "delete-ignores-writers", tmp_path)
    assert found, "no campaign caught a delete acknowledged under an open writer"
    assert {v.requirement for v in found} == {"LIFE-006"}
    assert "held it open" in found[0].witness


def test_an_acknowledged_archive_that_moved_nothing_is_filed_under_life_001(tmp_path):
    """The gallery's archive-plain-only: its archive of a compressed rollout is acknowledged, and a
    later operation on the active path finds it there, or it rests there (the first seed that shows it)."""
    _, found = violations_of("not_archived", "archive-plain-only", tmp_path)
    assert found, "no campaign caught an acknowledged archive that left the rollout active"
    assert {v.requirement for v in found} == {"LIFE-001"}
    assert "archive was acknowledged" in found[0].witness and "sessions/" in found[0].witness


def test_no_lifecycle_op_for_a_store_that_did_not_declare_it(tmp_path):
    """The full reference served with a narrower handshake: archivers asked for, none run, and why."""
    served = (f"cmd:{sys.executable} -m conformance.cli.serve --store reference "
              "--declare reader,writer,compressor")
    verdict = campaign(served, tmp_path, seed=5, compressors=1, readers=0, listers=0)
    assert not any(op in verdict.stats["operations"] for op in LIFECYCLE_OPS), verdict.stats["operations"]
    assert any("did not declare lifecycle" in note for note in verdict.notes), verdict.notes
    assert verdict.status in ("passed", "inconclusive"), verdict.status
