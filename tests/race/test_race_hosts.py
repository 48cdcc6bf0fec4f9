"""Actors on named hosts (issue #25): execnet gateways start them, the controller's clock orders them.

Host ``a`` is a ``popen`` gateway seeing the shared folder itself (the file server's own disk); host
``b`` is a ``socket=`` gateway to an execnet socket server in its own network and mount namespaces,
with its own working folder and its own bindfs (FUSE) mount of the shared folder, standing for a
second machine that mounts the home with locks of its own.  Writers on ``b`` and the compressor on
``a`` take locks that do not meet: the scheduled window of r2 (the compressor held before its unlink
while the writer writes) loses acknowledged lines for ``reference:inode-flock``, and its replay does
again; with both roles on one path nothing is lost.  (The compressor is the one on the plain folder:
on a FUSE mount the reference refuses to compress, SPEC.md 5.8.)  A campaign with its writers and
compressor on the two gateways yields one history naming each actor's host, and a gateway whose
clock is an hour behind (libfaketime) cannot reorder that history.  An ``ssh=`` gateway (a real sshd
on the loopback, tests/helpers/sshd.py) carries the writer as it would to another machine.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.cli import cli, one_line_usage_error
from helpers.sshd import ssh_host

from conformance.runtime.mounts import bindfs
from conformance.runtime.socket_gateway import (
    GatewayUnavailable,
    require_socket_gateway,
    socket_gateway,
)
from conformance.suite.mounts import require_bindfs
from race_harness.actor import Op
from race_harness.campaign import CampaignConfig, run_campaign
from race_harness.checker import check
from race_harness.history import load_events, operations, read_events
from race_harness.hosts import Placement
from race_harness.judge import conclude
from race_harness.replay import replay
from race_harness.run import Run
from race_harness.scenarios import run_scenario, seed
from race_harness.timeline import build

HOUR = 3600.0


@pytest.fixture
def hosts(tmp_path):
    """The shared folder, host a (popen, the folder itself) and host b (a socket gateway with its own mount)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    far_mount = tmp_path / "far-mount"  # exists only in b's mount namespace
    with contextlib.ExitStack() as stack:
        try:  # namespaces or FUSE may be refused only when tried: skip then too, never pass
            require_socket_gateway()
            spec = stack.enter_context(socket_gateway(str(tmp_path / "far-work"), {str(far_mount): str(shared)}))
        except GatewayUnavailable as exc:
            pytest.skip(str(exc))
        yield {"ctl": f"ctl={shared}", "a": f"a={shared}@popen", "b": f"b={far_mount}@{spec}",
               "b-shared": f"b={shared}@{spec}", "shared": shared}


def test_writers_and_compressor_on_two_machines_lose_lines_and_the_bundle_replays_it(hosts, tmp_path):
    two = Placement.of([hosts["ctl"], hosts["a"], hosts["b"]], [("writer", "b"), ("compressor", "a")])
    verdict = run_scenario("reference:inode-flock", "r2-writer-vs-unlink", str(tmp_path / "runs"), 0,
                           str(tmp_path / "bundles"), two)
    assert verdict.status == "violation" and "lost_line" in verdict.classes, verdict.describe()
    assert all(v.requirement == "COORD-009" for v in verdict.violations if v.cls == "lost_line")
    assert any("compressor held at compress.before_unlink" in note for note in verdict.notes), verdict.notes

    bundle = Path(verdict.bundle)
    hosts_of = {event.proc: event.host for event in read_events(str(bundle / "history.jsonl"))}
    assert hosts_of["writer"] == hosts_of["setup"] == "b" and hosts_of["compressor"] == "a"
    assert hosts_of["ager"] == "ctl" and hosts_of["recovery-1"] == "a"
    lanes = {lane["name"]: lane["host"] for lane in build(str(bundle))["lanes"]}
    assert lanes["writer"] == "b" and lanes["compressor"] == "a"
    assert (bundle / "stderr" / "writer.txt").exists()  # brought back from b

    again = replay(str(bundle), str(tmp_path / "replay"))
    assert again.reproduced, again.describe()

    one = Placement.of([hosts["ctl"], hosts["a"], hosts["b-shared"]], [("writer", "b"), ("compressor", "a")])
    control = run_scenario("reference:inode-flock", "r2-writer-vs-unlink", str(tmp_path / "control"), 0, None, one)
    assert control.status == "passed", control.describe()
    assert control.stats["outcomes"].get("skipped_busy"), control.stats  # the compressor saw the writer's lock


def test_a_writer_over_ssh_through_its_own_mount_loses_lines_and_through_the_same_path_keeps_them(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    with ssh_host(tmp_path / "ssh") as spec, contextlib.ExitStack() as stack:
        require_bindfs()
        far = stack.enter_context(bindfs(str(shared), str(tmp_path / "ssh-mount")))
        apart = Placement.of([f"ctl={shared}", f"s={far}@{spec}"], [("writer", "s")])
        verdict = run_scenario("reference:inode-flock", "r2-writer-vs-unlink", str(tmp_path / "apart"), 0,
                               str(tmp_path / "bundles"), apart)
        assert verdict.status == "violation" and "lost_line" in verdict.classes, verdict.describe()
        hosts_of = {event.proc: event.host for event in read_events(str(Path(verdict.bundle) / "history.jsonl"))}
        assert hosts_of["writer"] == "s" and hosts_of["compressor"] == "ctl", hosts_of
        together = Placement.of([f"ctl={shared}", f"s={shared}@{spec}"], [("writer", "s")])
        control = run_scenario("reference:inode-flock", "r2-writer-vs-unlink", str(tmp_path / "together"), 0,
                               None, together)
        assert control.status == "passed", control.describe()
        assert control.stats["outcomes"].get("skipped_busy"), control.stats  # the compressor saw the lock


def test_a_campaign_on_two_gateways_makes_one_history_with_each_actors_host(hosts, tmp_path):
    config = CampaignConfig(seconds=2.0, seed=3, rollouts=2, hosts=(hosts["ctl"], hosts["a"], hosts["b-shared"]),
                            placement=(("writer", "a"), ("compressor", "b")))
    verdict = run_campaign("reference", config, str(tmp_path / "runs"), str(tmp_path / "bundles"))
    assert verdict.status == "passed", verdict.describe()  # a passed campaign put lines at stake (earned)
    events = load_events(verdict.workdir)
    by_host = {}
    for event in events:
        by_host.setdefault(event.host, set()).add(event.proc.split("-")[0].split(".")[0])
    assert {"writer", "setup"} <= by_host["a"] and "compressor" in by_host["b"], by_host
    assert {"reader", "lister", "ager"} <= by_host["ctl"], by_host
    assert [e.time for e in events] == sorted(e.time for e in events)
    assert not list(hosts["shared"].iterdir())  # the run's home in the shared folder went with the run


def test_a_skewed_clock_on_one_gateway_cannot_reorder_the_history(tmp_path):
    """b's python runs under libfaketime an hour behind: the controller's stamps keep the driven order.

    Ordered by the actors' own clocks, the later read (on the skewed host, five lines) would come
    before the earlier one (here, three lines): a read that is not a prefix of a later read."""
    faketime = shutil.which("faketime")
    if faketime is None:
        pytest.skip("faketime (libfaketime) is not installed (.ci/run installs it with apt-get)")
    shared = tmp_path / "shared"
    shared.mkdir()
    skewed = f"skewed={shared}@popen//python={faketime} -f -1h {sys.executable}"
    placement = Placement.of([f"ctl={shared}", skewed], [("writer", "skewed")])
    run = Run("reference", str(tmp_path / "run"), placement=placement)
    try:
        rollout, path = seed(run)  # the setup actor is a writer: on the skewed host
        run.spawn("reader")
        first = run.call("reader", Op("read", path, rollout))
        run.spawn("writer")
        run.call("writer", Op("append", path, rollout, 2))
        later = run.call("writer", Op("read", path, rollout))
        assert (len(first.value["rids"]), len(later.value["rids"])) == (3, 5)
        verdict = conclude(run, {"name": "skew"}, None)
        assert verdict.status == "passed", verdict.describe()

        events = load_events(run.workdir)
        driven = [(e.proc, e.op) for e in events if e.type == "invoke" and e.proc in ("reader", "writer")]
        assert driven == [("reader", "read"), ("writer", "append"), ("writer", "read")]
        skew = [e.clock - time.time() for e in events if e.host == "skewed"]
        assert skew and all(-HOUR - 60 < s < -HOUR + 60 for s in skew), skew  # the skew was in force
        by_clock = operations(sorted((replace(e, time=e.clock) for e in events), key=lambda e: e.time))
        assert "read_not_prefix" in {v.cls for v in check(by_clock, run.home, after_cleanup=True)}
    finally:
        run.close()


@pytest.mark.parametrize("argv, words", [
    (["--host", "a=relative/path"], "absolute"),
    (["--host", "a=/x@popen"], "without @GATEWAY"),
    (["--host", "a=/x", "--place", "writer=b"], "no --host b"),
    (["--host", "a=/x", "--place", "mover=a"], "ROLE is one of"),
    (["--host", "a=/x", "--home-mount", "writer=one"], "use one"),
])
def test_impossible_hosts_are_one_line_usage_errors(argv, words):
    done = cli("race", "--store", "reference", "--random", "--seconds", "1", *argv, timeout=120)
    assert words in one_line_usage_error(done)
