"""Start an offline ``codex app-server`` on a home and complete its handshake.

Contract: :func:`start` returns an initialized :class:`AppServer` whose ``CODEX_HOME`` is the home
under test and whose every model call fails locally: the built-in ``openai`` provider points at the
closed port 127.0.0.1:9, the API key is a dummy and ``HOME`` is a scratch folder.  The settings go
on the command line (``-c``), so the adapter writes no ``config.toml`` into the home.
"""

from __future__ import annotations

import hashlib
import os
import tempfile

from conformance.stores.codex.rpc import AppServer

#: Marks every codex this adapter starts, so it can tell the run markers of passes it asked for.
ADAPTER_MARK = "ROLLOUT_CONFORMANCE_ADAPTER=codex"
_started_here: set[int] = set()

OFFLINE_BASE_URL = "http://127.0.0.1:9/v1"  # the discard port: nothing listens, every call fails at once
_OVERRIDES = (
    'model_provider="openai"',
    f'openai_base_url="{OFFLINE_BASE_URL}"',
    'model="rollout-conformance-offline"',
    "suppress_unstable_features_warning=true",
    # Off (its default), so a pass runs only when the adapter asks for one.
    "features.local_thread_store_compression=false",
    # Harness rollouts name the provider "none"; codex refuses to resume under another provider.
    'model_providers.none.name="none"',
    f'model_providers.none.base_url="{OFFLINE_BASE_URL}"',
)


def argv(binary: str) -> list[str]:
    overrides = [arg for setting in _OVERRIDES for arg in ("-c", setting)]
    return [binary, *overrides, "app-server", "--listen", "stdio://"]


def environment(home: str, scratch_home: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": scratch_home,
        "CODEX_HOME": home,
        "OPENAI_API_KEY": "rollout-conformance-offline",
        # debug level makes the pass log its finished line and its per-rollout metadata skips
        "RUST_LOG": "codex_rollout=debug",
        "LANG": "C.UTF-8",
        ADAPTER_MARK.split("=")[0]: ADAPTER_MARK.split("=")[1],
    }


def _registry(home: str) -> str:
    """Where adapters on ``home`` note the pids of the codex they start (outside the home under test)."""
    key = hashlib.sha256(os.path.realpath(home).encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), "rollout-conformance-codex-pids", key)


def started_by_an_adapter(pid: int, home: str) -> bool:
    """True when ``pid`` is a codex an adapter started on ``home``: here, alive elsewhere, or noted
    in the home's registry by an adapter process since killed (a race actor's crashed pass)."""
    if pid in _started_here or os.path.exists(os.path.join(_registry(home), str(pid))):
        return True
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return ADAPTER_MARK.encode() in handle.read().split(b"\0")
    except OSError:
        return False  # gone or not ours to read: not provably the adapter's


def start(binary: str, home: str, scratch_home: str, timeout: float) -> AppServer:
    server = AppServer(argv(binary), environment(home, scratch_home), timeout)
    _started_here.add(server.pid)
    os.makedirs(_registry(home), exist_ok=True)
    with open(os.path.join(_registry(home), str(server.pid)), "w"):
        pass  # an empty note: its name is the pid
    try:
        server.request("initialize", {"clientInfo": {"name": "rollout-conformance", "version": "1"},
                                      "capabilities": {"experimentalApi": True}})
        server.notify("initialized")
    except BaseException:
        server.close()
        raise
    return server
