"""The bundle of one lost line in the ``versions`` hold-then-compress experiment, and reading it back.

Contract: :func:`write_hold_bundle` writes a self-contained folder (``bundle.json`` with both
selections, what each store is (a codex binary's probed facts), the timeout, the pass's outcome and
what the disk showed; ``home/`` and ``home.json``, the home after the experiment; ``command.txt``,
the exact command that replays it; ``README.txt`` in words); :func:`load_hold_bundle` reads one back
and :func:`check_stores` makes sure the stores it names run the same releases now, each raising
:class:`BundleError` with the fix.  Nothing in a bundle refers to the temporary work folder.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from dataclasses import asdict

from conformance.api.errors import Inconclusive
from conformance.stores.codex.install import install_folder
from conformance.stores.codex.store import CodexStore
from conformance.stores.selection import SelectionError, open_store

from race_harness.bundle import snapshot, versions

KIND, FORMAT_VERSION = "versions-hold", 1
_SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class BundleError(Exception):
    """A bundle that cannot be replayed here: the message says why and what to do."""


def write_hold_bundle(root: str, session: str, compressor: str, hold, home: str, timeout: float, line: str) -> str:
    """A bundle under ``root`` for ``hold`` (a :class:`race_harness.versions.Hold` that lost ``line``)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = os.path.join(os.path.abspath(root), f"versions-hold-{slug(session)}--{slug(compressor)}-{stamp}")
    suffix = 0
    while os.path.exists(folder + (f"-{suffix}" if suffix else "")):
        suffix += 1
    folder += f"-{suffix}" if suffix else ""
    os.makedirs(folder)
    command = replay_command(folder)
    data = {"kind": KIND, "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "session": session, "compressor": compressor,
            "stores": {selection: describe_store(selection) for selection in (session, compressor)},
            "timeout": timeout, "outcome": hold.outcome, "kept": hold.kept, "detail": hold.detail,
            "disk": {"rollout": hold.rollout, "representations": list(hold.representations),
                     "line": line, "line_in": list(hold.line_in)},
            "command": command, "versions": versions()}
    with open(os.path.join(folder, "bundle.json"), "w") as handle:
        json.dump(data, handle, indent=1)
    snapshot(home, folder, "home")  # home.json (every file's size, mode, sha256) and home/
    with open(os.path.join(folder, "command.txt"), "w") as handle:
        handle.write(command + "\n")
    with open(os.path.join(folder, "README.txt"), "w") as handle:
        handle.write(_words(data))
    return folder


def replay_command(folder: str) -> str:
    """The exact command that reruns the bundle's experiment (with the install folder it used)."""
    argv = [sys.executable, "-m", "conformance.cli", "versions", "--replay", os.path.abspath(folder)]
    if os.environ.get("ROLLOUT_CONFORMANCE_CODEX_DIR"):
        argv = ["env", f"ROLLOUT_CONFORMANCE_CODEX_DIR={install_folder()}", *argv]
    return f"cd {shlex.quote(_SOURCE_ROOT)} && {shlex.join(argv)}"


def describe_store(selection: str) -> dict:
    """What ``selection`` is: its handshake's name and version, and a codex binary's probed facts."""
    store = open_store(selection)
    try:
        hello = store.hello()
        facts = store.facts if isinstance(store, CodexStore) else None
    finally:
        store.close()
    described = {"name": hello.name, "version": hello.version}
    if facts is not None:
        described["facts"] = {k: v for k, v in asdict(facts).items() if k != "binary"}
    return described


def load_hold_bundle(path: str) -> dict:
    """``bundle.json`` of the bundle folder ``path`` (or of the file itself)."""
    file = path if os.path.basename(path) == "bundle.json" else os.path.join(path, "bundle.json")
    hint = "name a folder that `versions` wrote under --bundle-dir after a loss"
    try:
        with open(file) as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise BundleError(f"{path} is no versions bundle: {file} does not exist; {hint}") from None
    except (OSError, ValueError) as exc:
        raise BundleError(f"cannot read {file} ({exc}); {hint}") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise BundleError(f"{file} is not a hold bundle of `versions` (kind is not {KIND!r}); {hint}")
    kinds = {"session": str, "compressor": str, "stores": dict, "timeout": (int, float), "outcome": str}
    missing = [key for key in kinds if key not in data]
    if missing:
        raise BundleError(f"{file} lacks {', '.join(missing)}; {hint}")
    wrong = [key for key, kind in kinds.items() if not isinstance(data[key], kind) or isinstance(data[key], bool)]
    if wrong:
        raise BundleError(f"{file} has a malformed {', '.join(wrong)}; {hint}")
    return data


def check_stores(data: dict) -> None:
    """Raise :class:`BundleError` unless both selections run here, as the same release as recorded."""
    for selection in (data["session"], data["compressor"]):
        try:
            now = describe_store(selection)
        except (Inconclusive, SelectionError) as exc:
            raise BundleError(f"{selection} cannot run here: {exc}") from None
        entry = data["stores"].get(selection)
        recorded = entry.get("version") if isinstance(entry, dict) else None
        if recorded is not None and now["version"] != recorded:
            raise BundleError(f"the bundle was made with {selection} = {recorded}, but {selection} now runs "
                              f"{now['version']}: select the same release (codex:VERSION after "
                              "`rollout-conformance codex install VERSION`)")


def _words(data: dict) -> str:
    stores, disk = data["stores"], data["disk"]
    name = {sel: f"{sel} ({stores[sel]['version']})" for sel in (data["session"], data["compressor"])}
    files = ", ".join(disk["representations"]) or "no file at all"
    return (f"A session of {name[data['session']]} resumed the cold rollout {disk['rollout']} and wrote a turn; "
            f"the rollout was back-dated past 7 days while the session stayed open, and {name[data['compressor']]} "
            f"ran one compression pass over the home. The pass's outcome for that rollout: {data['outcome']}. The "
            f"session then wrote another turn ({disk['line']!r}) and it was acknowledged, yet that line is in none "
            f"of the rollout's files afterwards ({files}): the write was lost.\n\n"
            "home/ is the home after the experiment (home.json lists every file with its sha256); bundle.json has "
            "all of this as data, with what each store was seen to do.\n\n"
            f"Replay (a fresh home, the same two stores):\n  {data['command']}\n"
            "Exit 1: the loss reproduced; 0: the line was kept; 3: the experiment told nothing; 2: the bundle is "
            "unreadable or a release is not installed.\n")


def slug(selection: str) -> str:
    """``selection`` as a file name."""
    return "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in selection)
