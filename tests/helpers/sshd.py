"""A private ssh server on this machine's loopback, so execnet's ``ssh=`` gateways run as they would
to a second machine: a real sshd, real key authentication, the far python started over the connection.

Contract: :func:`ssh_host` starts ``/usr/sbin/sshd`` on a free loopback port with throw-away host and
user keys in ``folder`` (nothing of the machine's own ssh set-up is read or changed) and yields the
execnet spec ``ssh=root@rc-ssh//ssh_config=FILE//python=PYTHON``; on exit it stops the server.  The
test skips, saying why, when this process cannot run one (not root, no sshd or ssh-keygen).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"
ALIAS = "rc-ssh"
START_SECONDS = 20.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@contextlib.contextmanager
def ssh_host(folder: Path, python: str = sys.executable) -> Iterator[str]:
    """Yield the execnet spec of an ssh gateway to this machine through a private sshd (see module)."""
    if os.geteuid() != 0:
        pytest.skip("a private sshd needs root (run as root, as .ci/run does in CI)")
    if not os.access(SSHD, os.X_OK) or not shutil.which("ssh-keygen") or not shutil.which("ssh"):
        pytest.skip("openssh-server is not installed (.ci/run installs it with apt-get)")
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)  # ssh refuses keys in a folder others may write
    _keygen(folder / "host_key")
    _keygen(folder / "user_key")
    shutil.copy(folder / "user_key.pub", folder / "authorized_keys")
    port = _free_port()
    (folder / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {folder / 'host_key'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPidFile {folder / 'sshd.pid'}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nStrictModes no\n")
    (folder / "ssh_config").write_text(
        f"Host {ALIAS}\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  IdentityFile {folder / 'user_key'}\n"
        "  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
        "  BatchMode yes\n")
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation folder
    server = subprocess.Popen([SSHD, "-D", "-e", "-f", str(folder / "sshd_config")],
                              stdout=subprocess.DEVNULL, stderr=open(folder / "sshd.log", "wb"))
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"sshd did not start: {(folder / 'sshd.log').read_text(errors='replace')[-500:]}")
            time.sleep(0.05)
        yield f"ssh=root@{ALIAS}//ssh_config={folder / 'ssh_config'}//python={python}"
    finally:
        server.terminate()
        server.wait(10)
