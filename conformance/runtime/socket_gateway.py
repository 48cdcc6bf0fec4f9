"""A second machine on this one: an execnet socket server in its own network and mount namespaces.

Contract: :func:`socket_gateway` starts execnet's own ``socketserver.py`` inside fresh network and
mount namespaces (``unshare``), reached only over a veth pair whose far end lives in that network
namespace, working in its own folder, with its own bindfs (FUSE) mounts that no process outside it
sees; it yields the execnet spec (``socket=ADDRESS:PORT``) and on exit stops the server, unmounts
and removes the veth pair.  When this process cannot build it (not root, no ``unshare`` or ``ip``,
no FUSE for the mounts asked for) it raises :class:`GatewayUnavailable` saying why, before anything
is started, so a caller skips with the reason instead of pretending.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping

from conformance.runtime.mounts import MountUnavailable, require_bindfs

IP = "/usr/sbin/ip"
PORT = 8888  # the namespace has its own ports: execnet's default never collides with another server
#: /30 subnets for the veth pairs, one per server; a subnet some interface already uses is skipped.
SUBNETS = ipaddress.ip_network("10.231.0.0/16")
START_SECONDS = 20.0
_serial = itertools.count()


class GatewayUnavailable(Exception):
    """This process cannot start a namespaced socket server; the message says why and what would fix it."""


def require_socket_gateway(mounts: bool = True) -> None:
    """Raise GatewayUnavailable unless this process can start one (with bindfs mounts when ``mounts``)."""
    if os.geteuid() != 0:
        raise GatewayUnavailable("a socket gateway in its own namespaces needs root (run as root, as .ci/run does in CI)")
    for tool in ("unshare", "nsenter"):
        if not shutil.which(tool):
            raise GatewayUnavailable(f"{tool} (util-linux) is not installed")
    if not os.access(IP, os.X_OK):
        raise GatewayUnavailable(f"{IP} (iproute2) is not installed")
    if mounts:
        try:
            require_bindfs()
        except MountUnavailable as exc:
            raise GatewayUnavailable(str(exc)) from None


@contextlib.contextmanager
def socket_gateway(workdir: str, mounts: Mapping[str, str] | None = None,
                   python: str = sys.executable) -> Iterator[str]:
    """Yield ``socket=ADDRESS:PORT`` of an execnet socket server run by ``python`` in ``workdir``
    (created if missing), inside its own namespaces, with each ``mounts`` item (mount point:
    folder) a bindfs mount seen only there."""
    mounts = dict(mounts or {})
    require_socket_gateway(bool(mounts))
    os.makedirs(workdir, exist_ok=True)
    serial = next(_serial)
    tag = f"{os.getpid() % 100000}{serial}"[-9:]
    host_end, far_end = f"rgw{tag}h", f"rgw{tag}g"
    subnet = _free_subnet(serial)
    near, far = (str(a) for a in list(subnet.hosts())[:2])
    log = open(os.path.join(workdir, "socket-gateway.log"), "ab")
    argv = ["unshare", "--net", "--mount", "--propagation", "private", "--", python, "-m", __name__,
            far_end, far, str(PORT), workdir, *(f"{point}={folder}" for point, folder in mounts.items())]
    server = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=log, stderr=log, start_new_session=True)
    try:
        _wait_for_own_namespace(server)
        _ip("link", "add", host_end, "type", "veth", "peer", "name", far_end, "netns", str(server.pid))
        _ip("addr", "add", f"{near}/{subnet.prefixlen}", "dev", host_end)
        _ip("link", "set", host_end, "up")
        server.stdin.write(b"go\n")  # the far end now exists: the server configures it and starts
        server.stdin.flush()
        _wait_until_serving(server, far, workdir)
        yield f"socket={far}:{PORT}"
    finally:
        _stop(server)
        log.close()
        subprocess.run([IP, "link", "del", host_end], capture_output=True)  # gone with the namespace, usually


def _ip(*args: str) -> None:
    done = subprocess.run([IP, *args], capture_output=True, text=True)
    if done.returncode:
        raise GatewayUnavailable(f"ip {' '.join(args)} failed: {done.stderr.strip()[-300:]}")


def _free_subnet(serial: int) -> ipaddress.IPv4Network:
    """A /30 of SUBNETS no interface of this namespace uses (pid-spread, so parallel tests differ)."""
    used = subprocess.run([IP, "-o", "-4", "addr"], capture_output=True, text=True).stdout
    subnets = list(SUBNETS.subnets(new_prefix=30))
    first = (os.getpid() * 8 + serial) % len(subnets)
    for index in range(len(subnets)):
        subnet = subnets[(first + index) % len(subnets)]
        if not any(f" {host}/" in used for host in subnet):
            return subnet
    raise GatewayUnavailable(f"every /30 of {SUBNETS} is in use")


def _wait_for_own_namespace(server: subprocess.Popen) -> None:
    """Until ``unshare`` has moved the server into its own network namespace (the veth goes there)."""
    mine = os.readlink("/proc/self/ns/net")
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise GatewayUnavailable(f"unshare --net --mount exited with status {server.returncode}: "
                                     "namespaces are not permitted here")
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{server.pid}/ns/net") != mine:
                return
        time.sleep(0.01)
    raise GatewayUnavailable(f"the socket server did not enter its own namespace within {START_SECONDS:.0f}s")


def _wait_until_serving(server: subprocess.Popen, address: str, workdir: str) -> None:
    """Until the server accepts a connection (sent a line that makes it run nothing)."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise GatewayUnavailable(f"the socket server exited with status {server.returncode}; "
                                     f"see {os.path.join(workdir, 'socket-gateway.log')}")
        with contextlib.suppress(OSError), socket.create_connection((address, PORT), timeout=1) as probe:
            probe.sendall(b"None\n")  # execnet's server evaluates the line: None runs nothing
            return
        time.sleep(0.05)
    raise GatewayUnavailable(f"the socket server did not listen on {address}:{PORT} within {START_SECONDS:.0f}s")


def _stop(server: subprocess.Popen) -> None:
    """Close the server's stdin (it stops serving and unmounts), then kill what is left of it."""
    with contextlib.suppress(OSError):
        server.stdin.close()
    try:
        server.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(5)


def _serve(far_end: str, address: str, port: str, workdir: str, *mounts: str) -> None:
    """Inside the namespaces: wait for the veth, bring it up, mount, serve until stdin closes."""
    if sys.stdin.readline() != "go\n":
        return
    for args in (["link", "set", "lo", "up"], ["addr", "add", f"{address}/30", "dev", far_end],
                 ["link", "set", far_end, "up"]):
        subprocess.run([IP, *args], check=True)
    points = []
    try:
        for item in mounts:
            point, folder = item.split("=", 1)
            os.makedirs(point, exist_ok=True)
            subprocess.run(["bindfs", folder, point], check=True)
            points.append(point)
        script = os.path.join(os.path.dirname(__import__("execnet").__file__), "script", "socketserver.py")
        server = subprocess.Popen([sys.executable, script, f"{address}:{port}"], cwd=workdir)
        try:
            sys.stdin.read()  # until the controller closes our stdin (or dies)
        finally:
            server.terminate()
            try:
                server.wait(5)
            except subprocess.TimeoutExpired:
                server.kill()
    finally:
        for point in reversed(points):
            subprocess.run(["umount", "-l", point])


if __name__ == "__main__":
    _serve(*sys.argv[1:])
