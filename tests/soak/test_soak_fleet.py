"""``soak`` spreads seeds over workers and gateways and merges them into one report (issue #25, item 5).

The store is the gallery's ``reader-prefers-zst`` (a reader that picks X.jsonl.zst when both
representations exist) under the state machine's smoke profile: seeds 3 and 6 draw a crash leftover
and a read of it, so they find the bug (RECOVER-001); seeds 4 and 5 never do, so they pass.  A seeded
state-machine run draws the same steps wherever it runs, so these verdicts hold on every worker, and
the last test shows it.  The socket gateway (conformance/runtime/socket_gateway.py) is an execnet
server in its own network and mount namespaces, standing for a second machine.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import jsonschema
import pytest

from helpers.cli import cli, one_line_usage_error

MUTANT = "mutant:reader-prefers-zst"
FAILING, PASSING = (3, 6), (4, 5)
SEEDS = sorted(FAILING + PASSING)
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "conformance/protocol/schemas/soak-report.schema.json")
                    .read_text())


def _soak(tmp_path: Path, label: str, *options: str, seeds=SEEDS, kind="machine") -> tuple[int, dict, Path]:
    """Run ``soak`` as a user does; (exit code, the report, its bundle folder)."""
    bundles, report = tmp_path / f"{label}-bundles", tmp_path / f"{label}.json"
    done = cli("soak", "--store", MUTANT, "--kind", kind, *(f"--seed={seed}" for seed in seeds),
               "--bundle-dir", str(bundles), "--report", str(report), "--html", str(tmp_path / f"{label}.html"),
               *options, cwd=tmp_path)
    assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    merged = json.loads(report.read_text())
    jsonschema.validate(merged, SCHEMA)
    return done.returncode, merged, bundles


def _verdicts(report: dict) -> dict[int, tuple[str, tuple[str, ...]]]:
    return {row["seed"]: (row["status"], tuple(row["classes"])) for row in report["seeds"]}


def _assert_every_failing_seed_bundled_here(report: dict, bundles: Path) -> None:
    for row in report["seeds"]:
        if row["seed"] in FAILING:
            assert (row["status"], row["requirements"]) == ("violation", ["RECOVER-001"]), row
            folder = Path(row["bundle"])
            assert folder.parent == bundles and folder.is_dir(), row  # brought to this machine
            meta = json.loads((folder / "meta.json").read_text())
            assert (meta["kind"], meta["seed"], meta["store"]) == ("machine", row["seed"], MUTANT)
            steps = (folder / "verdict.txt").read_text()
            assert "crash_leftover" in steps and f"--seed {row['seed']} " in steps  # the steps and the rerun
        else:
            assert (row["status"], row["bundle"]) == ("passed", ""), row
    assert sorted(p.name for p in bundles.iterdir()) == sorted(Path(r["bundle"]).name for r in report["seeds"]
                                                               if r["bundle"])


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    return _soak(tmp_path_factory.mktemp("two-workers"), "two", "-n", "2")


def test_a_soak_over_two_local_workers_gives_one_report_with_every_failing_seeds_bundle(two_workers):
    code, report, bundles = two_workers
    assert code == 1  # a seed found a violation
    assert [row["seed"] for row in report["seeds"]] == SEEDS and report["seeds_run"] == len(SEEDS)
    assert report["counts"] == {"passed": 2, "violation": 2, "inconclusive": 0, "not_run": 0}
    assert report["status"] == "violation" and report["workers"] == {"local": 2, "tx": []}
    _assert_every_failing_seed_bundled_here(report, bundles)
    assert {row["worker"]["id"] for row in report["seeds"]} == {"gw0", "gw1"}  # both workers ran seeds
    assert {row["worker"]["gateway"] for row in report["seeds"]} == {"popen"}
    page = (bundles.parent / "two.html").read_text()
    for row in report["seeds"]:
        assert row["name"] in page
        if row["bundle"]:  # linked relative to the page, next to which the bundles are
            assert f'href="two-bundles/{Path(row["bundle"]).name}/verdict.txt"' in page


def test_the_same_seeds_give_the_same_verdicts_in_one_process_as_over_workers(two_workers, tmp_path):
    code, alone, bundles = _soak(tmp_path, "alone", "-n", "0")
    assert code == 1
    assert {row["worker"]["id"] for row in alone["seeds"]} == {"main"}
    assert _verdicts(alone) == _verdicts(two_workers[1])
    _assert_every_failing_seed_bundled_here(alone, bundles)


@contextlib.contextmanager
def _far_machine(workdir: str):
    """The spec of a socket gateway in its own namespaces; a skip, saying why, where they are refused
    (checked up front, or only when the server starts), never a pass."""
    from conformance.runtime.socket_gateway import GatewayUnavailable, require_socket_gateway, socket_gateway

    with contextlib.ExitStack() as stack:
        try:
            require_socket_gateway(mounts=False)
            spec = stack.enter_context(socket_gateway(workdir))
        except GatewayUnavailable as exc:
            pytest.skip(f"no socket gateway here: {exc}")
        yield spec


def test_a_soak_over_two_local_workers_and_a_socket_gateway_brings_the_far_bundles_home(tmp_path):
    here = os.readlink("/proc/self/ns/net")
    with _far_machine(str(tmp_path / "far-machine")) as spec:
        code, report, bundles = _soak(tmp_path, "fleet", "-n", "2", "--tx", spec)
        # the far side alone, on a failing seed: its bundle comes back in the seed's report
        far_code, far, far_bundles = _soak(tmp_path, "far", "-n", "0", "--tx", spec, seeds=[6])
    assert code == 1 and report["workers"] == {"local": 2, "tx": [spec]}
    _assert_every_failing_seed_bundled_here(report, bundles)
    by_gateway = {}
    for row in report["seeds"]:
        by_gateway.setdefault(row["worker"]["gateway"], []).append(row)
    assert set(by_gateway) == {"popen", spec}  # every worker took seeds (4 seeds, 3 workers: round robin)
    assert here not in {row["worker"]["netns"] for row in by_gateway[spec]}  # run in the other namespace
    assert {row["worker"]["netns"] for row in by_gateway["popen"]} == {here}
    assert far_code == 1 and [row["worker"]["gateway"] for row in far["seeds"]] == [spec]
    assert far["seeds"][0]["worker"]["netns"] != here
    _assert_every_failing_seed_bundled_here(far, far_bundles)


def test_campaign_seeds_each_violation_has_its_bundle_here_and_each_pass_none(tmp_path):
    # Whether a short campaign catches this mutant depends on how the processes interleave, so this
    # checks the shape the merged report has either way, never which seeds fail.
    code, report, bundles = _soak(tmp_path, "campaigns", "-n", "2", "--seconds", "2", seeds=[0, 1],
                                  kind="campaign")
    assert [row["name"] for row in report["seeds"]] == ["campaign-0", "campaign-1"]
    assert code == {"violation": 1, "inconclusive": 3, "passed": 0}[report["status"]]
    for row in report["seeds"]:
        if row["status"] == "violation":
            meta = json.loads((Path(row["bundle"]) / "meta.json").read_text())
            assert (meta["kind"], meta["seed"]) == ("campaign", row["seed"])
            assert meta["replay"].endswith(row["bundle"])  # the replay command names the folder it is in now
            assert (Path(row["bundle"]) / "timeline.html").is_file()
        else:
            assert row["bundle"] == ""
    assert len(list(bundles.iterdir()) if bundles.exists() else []) == report["counts"]["violation"]


@pytest.mark.parametrize(("options", "says"), [(("--seeds", "0"), "at least one seed"),
                                               (("--tx", " "), "--tx needs an execnet spec"),
                                               (("--seconds", "0"), "needs a bound")])
def test_impossible_options_are_one_line_usage_errors(options, says, tmp_path):
    assert says in one_line_usage_error(cli("soak", "--store", "reference", *options, cwd=tmp_path))


def test_a_store_that_breaks_at_protocol_level_makes_its_seed_inconclusive_not_failed(tmp_path):
    done = cli("soak", "--store", "mutant:program-crashes", "--kind", "machine", "--seed", "1", "-n", "0",
               "--bundle-dir", str(tmp_path / "bundles"), "--report", str(tmp_path / "r.json"), cwd=tmp_path)
    assert done.returncode == 3, done.stdout[-2000:] + done.stderr[-2000:]
    (row,) = json.loads((tmp_path / "r.json").read_text())["seeds"]
    assert (row["status"], row["bundle"]) == ("inconclusive", "")
    assert "killed by signal SIGKILL" in row["notes"][0]


def test_an_error_that_breaks_no_requirement_is_could_not_tell_not_a_violation(tmp_path):
    done = cli("soak", "--store", "py:doubles.stores:untyped_error_store", "--kind", "machine", "--seed", "1",
               "-n", "0", "--bundle-dir", str(tmp_path / "bundles"), "--report", str(tmp_path / "r.json"), cwd=tmp_path)
    assert done.returncode == 3, done.stdout[-2000:] + done.stderr[-2000:]
    (row,) = json.loads((tmp_path / "r.json").read_text())["seeds"]
    assert (row["status"], row["bundle"], row["classes"]) == ("inconclusive", "", []), row
    assert "breaks no requirement (could not tell): RuntimeError" in row["notes"][0], row
