"""SPEC.md 5.8 in the reference: ``compress`` over a home on a mount whose locks stay local refuses,
says why and how to declare one writer machine, changes nothing; with the declaration it runs."""

from __future__ import annotations

from conformance.oracle import disk as oracle
from conformance.suite import kit
from conformance.suite.mounts import two_mount_home
from helpers.cli import cli
from reference import shared_home


def test_compress_through_a_fuse_mount_refuses_and_says_how_to_declare_one_writer_machine(tmp_path):
    with two_mount_home(tmp_path) as (backing, home, _other):
        rollout = kit.make_rollout(home, old=True)
        before = oracle.snapshot(backing)
        done = cli("compress", "--home", str(home))
        assert done.returncode == 3, done.stderr
        assert "not shared across its writers" in done.stderr and "fuse" in done.stderr
        assert f"touch {home}/.one-writer-machine" in done.stderr
        assert oracle.snapshot(backing) == before
        (backing / ".one-writer-machine").touch()
        done = cli("compress", "--home", str(home))
        assert done.returncode == 0, done.stderr
        assert tuple(oracle.representations(backing, rollout.rel)) == (rollout.zst,)


def test_a_home_on_a_local_filesystem_is_never_refused(tmp_path):
    assert shared_home.refusal(str(tmp_path)) == ""
