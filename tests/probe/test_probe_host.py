"""``probe --host``: flock between this machine and another reached through an execnet gateway.

A ``popen`` gateway is another process on this kernel: through the same path its locks exclude
ours; through a second bindfs (FUSE) mount of the home they do not, as two machines' would not.  An
``ssh=`` gateway goes through a real sshd (a private one on the loopback, tests/helpers/sshd.py), as
it would to another machine.
An unreachable host is "could not tell" (unknown, exit 3), never ok.
"""

from __future__ import annotations

import os

from helpers.cli import cli, one_line_usage_error
from helpers.probe import probe_json
from helpers.sshd import ssh_host

from conformance.suite.mounts import two_mount_home


def host_property(report: dict) -> dict:
    return next(p for p in report["properties"] if p["name"] == "flock_between_hosts")


def test_a_popen_host_on_the_same_path_excludes_both_ways(tmp_path):
    code, report = probe_json("--home", str(tmp_path), "--host", "popen")
    seen = host_property(report)
    assert seen["verdict"] == "ok", seen
    assert "is seen here (LOCK_EX|LOCK_NB refused)" in seen["detail"]
    assert "one held here is seen there (refused)" in seen["detail"]
    assert (report["host"], report["host_path"]) == ("popen", None)
    assert os.listdir(tmp_path) == []  # the scratch folder is gone


def test_a_popen_host_through_a_second_bindfs_mount_does_not_exclude(tmp_path):
    with two_mount_home(tmp_path) as (_backing, one, two):
        code, report = probe_json("--home", str(one), "--host", "popen", "--host-path", str(two))
        seen = host_property(report)
        assert seen["verdict"] == "unsafe", seen
        assert "is not seen here (LOCK_EX|LOCK_NB granted)" in seen["detail"]
        assert "one held here is not seen there (granted)" in seen["detail"]
        assert report["host_path"] == str(two)
        assert (code, report["verdict"]) == (1, "unsafe")


def test_an_ssh_host_is_asked_over_ssh_on_the_same_path_and_through_a_second_mount(tmp_path):
    with ssh_host(tmp_path / "ssh") as spec, two_mount_home(tmp_path) as (_backing, one, two):
        code, report = probe_json("--home", str(one), "--host", spec)
        assert host_property(report)["verdict"] == "ok" and report["host"] == spec, report  # (FUSE: exit 1 for the filesystem)
        code, report = probe_json("--home", str(one), "--host", spec, "--host-path", str(two))
        seen = host_property(report)
        assert seen["verdict"] == "unsafe" and "is not seen here (LOCK_EX|LOCK_NB granted)" in seen["detail"], seen


def test_an_unreachable_host_is_could_not_tell_never_ok(tmp_path):
    # port 1 on the loopback: nothing listens there, so the connection is refused at once
    code, report = probe_json("--home", str(tmp_path), "--host", "socket=127.0.0.1:1")
    seen = host_property(report)
    assert seen["verdict"] == "unknown" and seen["detail"].startswith("could not tell: could not reach"), seen
    assert (code, report["verdict"]) == (3, "unknown")


def test_a_host_path_that_does_not_show_the_home_is_a_usage_error(tmp_path):
    (tmp_path / "home").mkdir()
    (tmp_path / "elsewhere").mkdir()
    line = one_line_usage_error(cli("probe", "--home", str(tmp_path / "home"), "--host", "popen",
                                    "--host-path", str(tmp_path / "elsewhere")))
    assert "does not see the home's probe file" in line and "--host-path" in line
    assert os.listdir(tmp_path / "home") == []


def test_a_host_path_without_a_host_is_a_usage_error(tmp_path):
    line = one_line_usage_error(cli("probe", "--home", str(tmp_path), "--host-path", "/elsewhere"))
    assert "--host SPEC" in line
