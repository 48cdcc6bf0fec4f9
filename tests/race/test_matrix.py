"""The filesystem matrix: a home on tmpfs passes, writers and compressor on two bindfs mounts of a
home that (wrongly) declares one writer machine lose lines; the table names both; a layout that is
not one of the matrix's is a usage error."""

from __future__ import annotations

from conformance.suite.mounts import require_bindfs
from helpers.cli import cli, one_line_usage_error
from race_harness.campaign import CampaignConfig
from race_harness.matrix import LAYOUTS, markdown, run_matrix


def test_the_matrix_tells_a_local_home_from_two_mounts_whose_locks_do_not_meet(tmp_path):
    require_bindfs()
    layouts = tuple(layout for layout in LAYOUTS
                    if layout.label in ("tmpfs", "bindfs, two mounts, .one-writer-machine"))
    rows = run_matrix(("reference:inode-flock",), CampaignConfig(seconds=3.0, seed=1, rollouts=3),
                      str(tmp_path), str(tmp_path / "bundles"), layouts)
    local, shared = rows
    assert (local.probe, local.cells[0].status) == ("ok", "passed"), local
    assert shared.probe == "unsafe (flock_between_paths, rename_noreplace)"
    assert "lost_line" in shared.cells[0].classes, shared
    table = markdown(rows, "rollout-conformance matrix")
    assert "| tmpfs | ok | passed [" in table
    assert "| bindfs, two mounts, .one-writer-machine | unsafe (flock_between_paths, rename_noreplace) | " \
           "violation (lost_line" in table


def test_an_unknown_home_layout_is_a_usage_error():
    line = one_line_usage_error(cli("matrix", "--home", "nfs"))
    assert "not a home of the matrix" in line and "tmpfs" in line
