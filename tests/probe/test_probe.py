"""``rollout-conformance probe``: the right verdict for each filesystem of the matrix, the two-mount home
included, a report that follows its schema, and a clear usage error for a home it cannot probe."""

from __future__ import annotations

import os

import pytest
from helpers.cli import cli, one_line_usage_error
from helpers.probe import probe_json

from conformance.suite.mounts import FILESYSTEMS, filesystem_home, two_mount_home
from reference.shared_home import local_lock_option, mount_of, parse_mountinfo

ALL_OK = {"filesystem": "ok", "flock_between_processes": "ok", "flock_between_paths": "not_asked",
          "flock_between_hosts": "not_asked", "rename_noreplace": "ok", "mtime_nanoseconds": "ok", "folder_fsync": "ok"}


def verdicts(report: dict) -> dict[str, str]:
    return {p["name"]: p["verdict"] for p in report["properties"]}


@pytest.mark.parametrize("kind", FILESYSTEMS)
def test_a_home_on_a_local_filesystem_can_carry_the_schemes(kind, tmp_path):
    with filesystem_home(kind, tmp_path) as home:
        code, report = probe_json("--home", str(home))
        assert report["filesystem"]["type"] == kind
        assert report["filesystem"]["mount_point"] == str(home)
        assert verdicts(report) == ALL_OK, report
        assert (code, report["verdict"]) == (0, "ok")
        assert os.listdir(home) in ([], ["lost+found"])  # the scratch folder is gone


def test_two_mounts_of_one_folder_do_not_share_locks(tmp_path):
    with two_mount_home(tmp_path) as (_backing, one, two):
        code, report = probe_json("--home", str(one), "--other-path", str(two))
        seen = verdicts(report)
        assert report["filesystem"]["type"] == "fuse"
        assert seen["filesystem"] == "unsafe"
        assert seen["flock_between_processes"] == "ok"  # one mount does exclude
        assert seen["flock_between_paths"] == "unsafe"
        assert "both are granted" in next(p["detail"] for p in report["properties"]
                                          if p["name"] == "flock_between_paths")
        assert (code, report["verdict"]) == (1, "unsafe")


def test_a_home_that_declares_one_writer_machine_passes_the_filesystem_check_on_fuse(tmp_path):
    with two_mount_home(tmp_path) as (backing, one, _two):
        (backing / ".one-writer-machine").touch()
        _code, report = probe_json("--home", str(one))
        assert verdicts(report)["filesystem"] == "ok"
        assert ".one-writer-machine" in report["properties"][0]["detail"]


def test_two_paths_on_one_filesystem_share_locks(tmp_path):
    (tmp_path / "home").mkdir()
    os.symlink(tmp_path / "home", tmp_path / "link")
    code, report = probe_json("--home", str(tmp_path / "home"), "--other-path", str(tmp_path / "link"))
    assert verdicts(report)["flock_between_paths"] == "ok", report


def test_the_text_output_has_one_verdict_line_per_property(tmp_path):
    done = cli("probe", "--home", str(tmp_path))
    lines = done.stdout.splitlines()
    for name in ALL_OK:
        assert sum(line.split()[:1] == [name] for line in lines) == 1, done.stdout
    assert lines[-1].startswith("verdict: ")


@pytest.mark.parametrize("make, fix", [
    (lambda p: p / "missing", "does not exist"),
    (lambda p: (p / "file").write_text("x") and p / "file", "is not a folder"),
])
def test_a_home_that_cannot_be_probed_is_a_usage_error(tmp_path, make, fix):
    line = one_line_usage_error(cli("probe", "--home", str(make(tmp_path))))
    assert line.startswith("probe: --home") and fix in line


def test_an_unreadable_home_is_a_usage_error(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads and writes every folder whatever its mode: run as another user to check this")
    home = tmp_path / "home"
    home.mkdir(mode=0)
    assert "not readable and writable" in one_line_usage_error(cli("probe", "--home", str(home)))


def test_an_other_path_that_is_not_the_home_is_a_usage_error(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    line = one_line_usage_error(cli("probe", "--home", str(tmp_path / "a"), "--other-path", str(tmp_path / "b")))
    assert "does not show the home's files" in line
    assert os.listdir(tmp_path / "a") == []


@pytest.mark.parametrize("line, local", [
    ("36 25 0:33 / /home rw,relatime - nfs4 srv:/home rw,vers=4.2,local_lock=none,addr=10.0.0.1", False),
    ("36 25 0:33 / /home rw,relatime - nfs srv:/home rw,vers=3,local_lock=flock,addr=10.0.0.1", True),
    ("36 25 0:33 / /home rw,relatime - nfs4 srv:/home rw,vers=4.1,local_lock=all", True),
    ("36 25 0:33 / /home rw,relatime - fuse.sshfs me@host:/home rw,user_id=0,group_id=0", True),
    ("36 25 0:33 / /home rw,relatime - lustre 10.0.0.1@tcp:/fs rw,localflock", True),
    ("36 25 0:33 / /home rw,relatime - lustre 10.0.0.1@tcp:/fs rw,flock", False),
    ("36 25 8:1 / /home rw,relatime - ext4 /dev/sda1 rw", False),
])
def test_the_mount_options_that_keep_locks_local(line, local):
    root, mount = parse_mountinfo("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n" + line + "\n")
    assert mount.point == "/home" and not local_lock_option(root)
    assert bool(local_lock_option(mount)) is local


def test_the_home_is_on_the_longest_mount_point_that_holds_it(tmp_path):
    table = f"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n40 22 0:50 / {tmp_path} rw - tmpfs tmpfs rw\n"
    assert mount_of(str(tmp_path / "home"), parse_mountinfo(table)).fstype == "tmpfs"
    assert mount_of(str(tmp_path) + "-other", parse_mountinfo(table)).fstype == "ext4"


def test_escaped_mount_points_are_read_back():
    mount = parse_mountinfo("40 22 0:50 / /mnt/my\\040home rw - tmpfs tmpfs rw\n")[0]
    assert mount.point == "/mnt/my home"
