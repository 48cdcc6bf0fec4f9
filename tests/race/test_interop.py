"""The interop matrix: ordered (writer store, compressor store) pairs raced with real processes.

Bounded: a few scenarios and campaigns of a second or two per pair.
"""

from __future__ import annotations

import json

import pytest

from conformance.cli import main as conformance_cli
from race_harness.interop import LINES_LOST, SAFE, probe, run_pair
from conformance.cli.interop import split_stores

FLOCK_ONLY = "reference:inode-flock"
THREAD_LOCKS_ONLY = "reference:codex-thread-locks"


def test_lost_lines_pair_is_detected_with_a_bundle_that_replays(tmp_path, capsys):
    # neither scheme sees the other's writer lock
    cell = run_pair(probe(FLOCK_ONLY), probe(THREAD_LOCKS_ONLY), str(tmp_path / "w"),
                    scenarios=("r2-writer-vs-unlink",), seconds=1.5, seed=2, bundle_dir=str(tmp_path / "b"))
    assert cell.label == LINES_LOST and cell.status == "violation", [v.describe() for v in cell.verdicts]
    assert cell.replayed and cell.replayed.reproduced, cell.replayed
    scenario = next(v for v in cell.verdicts if v.name == "r2-writer-vs-unlink")
    assert cell.replayed.bundle == scenario.bundle  # the deterministic scenario bundle is the one replayed
    # and anyone can replay it with the public command, to the same violation
    assert conformance_cli.main(["replay", scenario.bundle]) == 1
    out = capsys.readouterr().out
    assert out.startswith("reproduced: expected lost_line") and f"compressor={THREAD_LOCKS_ONLY}" in out


def test_safe_pair_is_safe(tmp_path):
    # the reference compressor follows both schemes, so it sees codex-style writers' thread locks
    cell = run_pair(probe(THREAD_LOCKS_ONLY), probe("reference"), str(tmp_path), seconds=2.0, seed=1)
    assert cell.label == SAFE, [v.describe() for v in cell.verdicts]
    assert not cell.not_applicable and len(cell.verdicts) == 7  # six scenarios and the campaign
    campaign = cell.verdicts[-1]
    assert campaign.stats["operations"]["age"]["ok"] > 0 and campaign.stats["outcomes"]["compressed"] > 0


def test_a_store_without_failpoints_gets_only_the_scenarios_that_apply(tmp_path):
    quiet = probe("py:doubles.stores:no_failpoint_store")
    cell = run_pair(probe("reference"), quiet, str(tmp_path), scenarios=("r5-materialize-mtime", "r12-idle-writer"),
                    seconds=0)
    # r5's failpoint is the writer's, and the writer declared it: both apply
    assert cell.label == SAFE and [v.name for v in cell.verdicts] == ["r5-materialize-mtime", "r12-idle-writer"]
    assert cell.not_applicable == ()
    cell = run_pair(quiet, probe("reference"), str(tmp_path / "q"), scenarios=("r5-materialize-mtime",), seconds=0)
    assert cell.label == "inconclusive" and cell.not_applicable == (
        "r5-materialize-mtime: writer store lacks append.after_open",)


def test_cli_matrix_exit_code_json_and_markdown(tmp_path, capsys):
    out_json, out_md = tmp_path / "m.json", tmp_path / "m.md"
    code = conformance_cli.main(["interop", "--stores", f"{FLOCK_ONLY},{THREAD_LOCKS_ONLY}",
                                 "--scenario", "r12-idle-writer", "--seconds", "0", "--no-replay-check", "--workdir", str(tmp_path / "w"),
                                 "--bundle-dir", str(tmp_path / "b"), "--json", str(out_json),
                                 "--markdown", str(out_md)])
    assert code == 1
    matrix = json.loads(out_json.read_text())
    verdicts = {(c["writer"], c["compressor"]): c["verdict"] for c in matrix["cells"]}
    assert verdicts == {(FLOCK_ONLY, FLOCK_ONLY): SAFE, (FLOCK_ONLY, THREAD_LOCKS_ONLY): LINES_LOST,
                        (THREAD_LOCKS_ONLY, FLOCK_ONLY): LINES_LOST, (THREAD_LOCKS_ONLY, THREAD_LOCKS_ONLY): SAFE}
    assert all(c["bundles"] for c in matrix["cells"] if c["verdict"] == LINES_LOST)
    table = out_md.read_text()
    assert f"| `{FLOCK_ONLY}` | safe | {LINES_LOST} |" in table
    assert "writer \\ compressor" in capsys.readouterr().out
    assert conformance_cli.main(["interop", "--stores", "reference,no-such-form"]) == 2
    assert conformance_cli.main(["interop"]) == 2


@pytest.mark.parametrize("writer,compressor", [("reference", FLOCK_ONLY), ("reference", THREAD_LOCKS_ONLY),
                                               (FLOCK_ONLY, "reference"), (THREAD_LOCKS_ONLY, "reference")])
def test_the_reference_following_both_schemes_is_safe_next_to_either(writer, compressor, tmp_path):
    cell = run_pair(probe(writer), probe(compressor), str(tmp_path),
                    scenarios=("r2-writer-vs-unlink", "r12-idle-writer"), seconds=0)
    assert cell.label == SAFE, [v.describe() for v in cell.verdicts]


def test_store_lists_keep_commas_inside_a_command():
    assert split_stores("reference,cmd:./adapter --modes a,b,reference:inode-flock") == [
        "reference", "cmd:./adapter --modes a,b", "reference:inode-flock"]


def test_a_codex_like_store_slots_in_and_its_cells_are_earned(tmp_path):
    """No failpoints and a fixed week of cold age (like codex): r5 does not apply where it writes, the
    others race on timing after the ager's idle week, and the loss next to an inode-flock writer shows."""
    codex_like = probe("py:doubles.stores:codex_like_store")
    lost = run_pair(probe(FLOCK_ONLY), codex_like, str(tmp_path / "a"),
                    scenarios=("r2-writer-vs-unlink", "r12-idle-writer"), seconds=2.0, seed=3,
                    bundle_dir=str(tmp_path / "b"))
    assert lost.label == LINES_LOST and lost.replayed and lost.replayed.reproduced, [
        v.describe() for v in lost.verdicts]
    safe = run_pair(codex_like, probe("reference"), str(tmp_path / "c"),
                    scenarios=("r5-materialize-mtime", "r12-idle-writer"), seconds=2.0, seed=3)
    assert safe.label == SAFE and safe.not_applicable == (
        "r5-materialize-mtime: writer store lacks append.after_open",), [v.describe() for v in safe.verdicts]
