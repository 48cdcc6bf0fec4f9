"""Per-role stores in the race harness, and the ager: real processes, real files, real locks.

A run may give writers, compressors and readers different stores; every verdict and bundle says
which store played which role, and replay plays them again.  A store whose cold age is fixed at a
week compresses nothing in a campaign unless an ager back-dates rollouts while writers hold them.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace

import pytest

from conformance.cli import race as cli
from race_harness.campaign import CampaignConfig, run_campaign
from race_harness.history import load_events
from race_harness.replay import replay
from race_harness.roles import Roles, role_of_actor, role_of_point
from race_harness.scenarios import run_scenario

FLOCK_ONLY = "reference:inode-flock"  # its writers lock the data inode, nothing else
THREAD_LOCKS_ONLY = "reference:codex-thread-locks"  # its compressor probes codex's lock files, nothing else
QUIET = "py:doubles.stores:no_failpoint_store"  # the reference declaring no failpoints
WEEKLY = "py:doubles.stores:fixed_week_store"


def _race(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_actor_and_failpoint_roles():
    assert [role_of_actor(n) for n in ("writer-a", "compressor-1.2", "recovery-1", "lister-0", "setup", "ager")] == [
        "writer", "compressor", "compressor", "reader", "writer", "harness"]
    assert [role_of_point(p) for p in ("compress.before_unlink", "materialize.before_link", "append.after_open")] == [
        "compressor", "writer", "writer"]
    with pytest.raises(ValueError, match="pass role="):
        role_of_actor("victim")


def test_compressor_blind_to_the_writers_scheme_loses_lines_and_replays(tmp_path):
    roles = Roles(writer=FLOCK_ONLY, compressor=THREAD_LOCKS_ONLY, reader="reference")
    verdict = run_scenario(roles, "r12-idle-writer", str(tmp_path / "w"), bundle_dir=str(tmp_path / "b"))
    assert "lost_line" in verdict.classes, verdict.describe()
    assert verdict.stats["roles"] == roles.as_dict()
    assert verdict.stats["stores"]["compressor"]["coordination"] == ["codex-thread-locks"]
    assert verdict.stats["stores"]["writer"]["coordination"] == ["inode-flock"]
    with open(os.path.join(verdict.bundle, "meta.json")) as handle:
        meta = json.load(handle)
    assert meta["roles"] == roles.as_dict() and f"--compressor-store {THREAD_LOCKS_ONLY}" in meta["command"]
    assert meta["actors"]["writer"]["role"] == "writer" and meta["actors"]["compressor"]["role"] == "compressor"
    # the idle week is an operation of the ager, in the history like any other
    ages = [e for e in load_events(verdict.workdir) if e.op == "age"]
    assert [e.type for e in ages] == ["invoke", "ok"] and ages[0].proc == "ager"
    again = replay(verdict.bundle, root=str(tmp_path / "r"))
    assert again.reproduced and again.verdict.stats["roles"] == roles.as_dict(), again.describe()


def test_same_scenario_is_safe_when_the_compressor_follows_the_writers_scheme(tmp_path):
    verdict = run_scenario(Roles(writer=FLOCK_ONLY, compressor="reference", reader=FLOCK_ONLY), "r12-idle-writer",
                           str(tmp_path))
    assert verdict.status == "passed", verdict.describe()
    assert verdict.stats["outcomes"].get("skipped_busy"), verdict.describe()  # the writer's lock was seen


def test_cli_roles_exit_codes_and_missing_failpoints_by_role(tmp_path, capsys):
    assert _race("race", "--store", THREAD_LOCKS_ONLY, "--compressor-store", FLOCK_ONLY, "--scenario",
                 "r2-writer-vs-unlink", "--workdir", str(tmp_path / "a"), "--bundle-dir", str(tmp_path / "b")) == 1
    assert f"compressor={FLOCK_ONLY}" in capsys.readouterr().out
    # r5 needs append.after_open: a writer store without failpoints makes it inconclusive, with the reason
    assert _race("race", "--writer-store", QUIET, "--compressor-store", "reference", "--reader-store", "reference",
                 "--scenario", "r5-materialize-mtime", "--workdir", str(tmp_path / "c")) == 3
    assert "writer store lacks append.after_open" in capsys.readouterr().out
    # the same failpoint-less store as compressor: r5's window is the writer's, so it runs and passes
    assert _race("race", "--store", "reference", "--compressor-store", QUIET, "--scenario", "r5-materialize-mtime",
                 "--workdir", str(tmp_path / "d")) == 0
    assert _race("race", "--writer-store", "reference", "--scenario", "r1-write-between-stats") == 2
    # without --store, the writers' store reads: `--writer-store X --compressor-store Y` is a whole pairing
    assert _race("race", "--writer-store", FLOCK_ONLY, "--compressor-store", THREAD_LOCKS_ONLY, "--scenario",
                 "r1-write-between-stats", "--workdir", str(tmp_path / "e")) == 0
    assert f"writer={FLOCK_ONLY}, compressor={THREAD_LOCKS_ONLY}, reader={FLOCK_ONLY}" in capsys.readouterr().out


def test_campaign_with_fixed_cold_age_needs_the_ager(tmp_path):
    config = CampaignConfig(seconds=2.0, seed=4, writers=2, readers=0, listers=0, rollouts=2, agers=0)
    without = run_campaign(WEEKLY, config, str(tmp_path / "without"))
    assert without.status == "inconclusive", without.describe()
    assert "0 compressor operation(s) that took up a cold rollout" in without.notes[-1]
    aged = run_campaign(WEEKLY, replace(config, agers=1), str(tmp_path / "with"))
    assert aged.status == "passed", aged.describe()
    assert aged.stats["operations"]["age"]["ok"] > 0 and aged.stats["outcomes"].get("compressed")
