"""The namespaced execnet socket server stands for a second machine: its own network namespace reached
over a veth pair, its own working folder, its own bindfs mount of a folder, whose flock(2) locks do not
meet those taken on this side; stopping it leaves no mount and no veth behind."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess

import execnet
import pytest

from conformance.runtime.socket_gateway import IP, GatewayUnavailable, require_socket_gateway, socket_gateway

REMOTE = """
import fcntl, os
path = channel.receive()
fd = os.open(path, os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)  # held until the controller says so
channel.send((os.getcwd(), os.readlink("/proc/self/ns/net"), os.listdir(os.path.dirname(path))))
channel.receive()
os.close(fd)
"""


@contextlib.contextmanager
def started(workdir: str, mounts: dict):
    """The server's spec; a skip, saying why, where namespaces or FUSE are refused (never a pass)."""
    with contextlib.ExitStack() as stack:
        try:
            require_socket_gateway()
            spec = stack.enter_context(socket_gateway(workdir, mounts))
        except GatewayUnavailable as exc:
            pytest.skip(str(exc))
        yield spec


def test_the_server_has_its_own_namespace_folder_and_mount_whose_locks_do_not_meet_ours(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "rollout.jsonl").write_text("{}\n")
    point = tmp_path / "far-mount"
    with started(str(tmp_path / "far-work"), {str(point): str(shared)}) as spec:
        assert spec.startswith("socket=10.231.")
        gateway = execnet.makegateway(spec)
        try:
            channel = gateway.remote_exec(REMOTE)
            channel.send(str(point / "rollout.jsonl"))
            cwd, netns, listed = channel.receive(30)
            assert cwd == str(tmp_path / "far-work")
            assert netns != os.readlink("/proc/self/ns/net")
            assert listed == ["rollout.jsonl"]  # the far side sees the folder through its mount
            assert os.listdir(point) == []  # which no process on this side sees
            # the far side holds LOCK_EX through its mount; this side's lock on the folder is granted
            fd = os.open(shared / "rollout.jsonl", os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            finally:
                os.close(fd)
            channel.send("release")
            channel.waitclose(30)
        finally:
            gateway.exit()
    assert spec.split("=")[1].split(":")[0] not in subprocess.run([IP, "-o", "addr"], capture_output=True,
                                                                   text=True).stdout
