"""The filesystem matrix: a home on tmpfs passes, writers and compressor on two bindfs mounts of a
home that (wrongly) declares one writer machine lose lines; the suite runs with its homes on the
row's filesystem; interop runs its pairs there; a store that cannot be opened is a skipped cell with
the reason; the table names all of it; a layout that is not one of the matrix's is a usage error."""

from __future__ import annotations

import pytest

from conformance.suite.mounts import require_bindfs
from helpers.cli import cli, one_line_usage_error
from race_harness.campaign import CampaignConfig
from race_harness.matrix import LAYOUTS, Plan, markdown, run_matrix

CONFIG = CampaignConfig(seconds=3.0, seed=1, rollouts=3)
#: One suite test, quick and about compression: on a home whose mount keeps locks local the
#: reference refuses to compress it (SPEC.md 5.8), so the verdict shows where the suite's homes were.
ONE_COMPRESSION_TEST = "test_compress_honours_the_cold_rule"


def layouts(*labels: str):
    return tuple(layout for layout in LAYOUTS if layout.label in labels)


def test_the_matrix_tells_a_local_home_from_two_mounts_whose_locks_do_not_meet(tmp_path):
    require_bindfs()
    plan = Plan(stores=("reference:inode-flock",), config=CONFIG, suite_stores=(), interop_stores=())
    rows = run_matrix(plan, str(tmp_path), str(tmp_path / "bundles"),
                      layouts("tmpfs", "bindfs, two mounts, .one-writer-machine"))
    local, shared = rows
    assert (local.probe, local.cells[0].status) == ("ok", "passed"), local
    assert shared.probe == "unsafe (flock_between_paths, rename_noreplace)"
    assert "lost_line" in shared.cells[0].classes, shared
    table = markdown(rows, "rollout-conformance matrix", "today", plan)
    assert "| tmpfs | ok | — | passed [" in table
    assert "| bindfs, two mounts, .one-writer-machine | unsafe (flock_between_paths, rename_noreplace) | — | " \
           "violation (lost_line" in table


def test_the_suite_and_interop_run_on_the_row_and_a_store_that_cannot_open_is_skipped(tmp_path):
    require_bindfs()
    missing = f"codex:{tmp_path}/no-such-codex"
    plan = Plan(stores=(missing,), config=CONFIG, suite_stores=("reference",), suite_select=ONE_COMPRESSION_TEST,
                interop_stores=("reference", "reference:inode-flock"))
    fuse, declared = run_matrix(plan, str(tmp_path), str(tmp_path / "bundles"),
                                layouts("bindfs, one mount", "bindfs, one mount, .one-writer-machine"))
    # through FUSE the reference refuses to compress (the suite's homes were there) until the home
    # declares one writer machine
    assert (fuse.suite[0].status, fuse.suite[0].failed) == ("failed", ("COMP-001",)), fuse.suite
    assert declared.suite[0].status == "passed" and [n for n, _ in declared.suite[0].tests] == ["passed"], declared
    assert dict(fuse.suite[0].tests) == {"failed": dict(declared.suite[0].tests)["passed"]}  # the same tests
    assert [(c.writer, c.compressor, c.label) for c in declared.interop] == [
        ("reference", "reference:inode-flock", "safe"), ("reference:inode-flock", "reference", "safe")], declared.interop
    assert fuse.cells[0].status == "skipped" and "no-such-codex" in fuse.cells[0].note, fuse.cells
    table = markdown([fuse, declared], "rollout-conformance matrix", "today", plan)
    assert "`reference` → `reference:inode-flock`: safe; `reference:inode-flock` → `reference`: safe" in table
    assert "| skipped: " in table and "; failed COMP-001]" in table


def test_an_unknown_home_layout_is_a_usage_error():
    line = one_line_usage_error(cli("matrix", "--home", "nfs"))
    assert "not a home of the matrix" in line and "tmpfs" in line


def test_a_store_without_a_reader_is_read_through_the_reference_as_race_does(tmp_path):
    from conformance.stores.codex.install import missing_reason
    from race_harness.matrix import CODEX

    why = missing_reason(CODEX.partition(":")[2])
    if why:
        pytest.skip(f"codex not installed: {why}")
    plan = Plan(stores=(CODEX,), config=CONFIG, suite_stores=(), interop_stores=())
    row, = run_matrix(plan, str(tmp_path), str(tmp_path / "bundles"), layouts("tmpfs"))
    # codex declares no reader: read through codex itself, every header would fail (READ-011)
    assert "header_failed" not in row.cells[0].classes, row.cells
    assert row.cells[0].status in ("passed", "violation"), row.cells
