"""Repro bundles: one self-contained folder per failing run, enough to understand and rerun it.

Contract: :func:`write_bundle` copies the history, schedule (every failpoint decision and every
harness decision such as kills and clock changes), verdict in words, snapshots of the home before
and after recovery, each process's stderr, versions and the exact command to rerun; :func:`load_meta`
reads back what ``replay`` needs.  Nothing in a bundle refers to the temporary work folder.
"""

from __future__ import annotations

import glob
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version

from conformance.oracle import home_view
from race_harness.history import load_events, write_history
from race_harness.roles import STORE_ROLES, Roles
from race_harness.timeline import write_timeline

COPY_LIMIT = 64 << 20  # homes bigger than this are described (manifest), not copied
_SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def versions() -> dict:
    """Python, platform, zstandard and harness versions, plus the git commit when there is one."""
    found = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in ("zstandard", "multiprocess", "rollout-conformance"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        found["git"] = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True,
                                      timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        found["git"] = "unknown"
    return found


def snapshot(home: str, dest: str, label: str) -> None:
    """``<label>.json`` (every file: size, mode, mtime, sha256) and a copy when small enough."""
    with open(os.path.join(dest, f"{label}.json"), "w") as handle:
        json.dump(home_view.manifest(home), handle, indent=1)
    home_view.copy_home(home, os.path.join(dest, label), COPY_LIMIT)


def rerun_command(meta: dict) -> str:
    """The exact command line that runs the same thing again."""
    roles = Roles.from_meta(meta)
    argv = [sys.executable, "-m", "conformance.cli", "race", "--store", roles.default, "--seed", str(meta["seed"])]
    for role in STORE_ROLES:
        if getattr(roles, role) != roles.default:
            argv += [f"--{role}-store", getattr(roles, role)]
    kind, params = meta["kind"], meta["params"]
    argv += [arg for host in params.get("hosts", ()) for arg in ("--host", host)]
    argv += [arg for role, host in params.get("placement", ()) for arg in ("--place", f"{role}={host}")]
    if kind == "scenario":
        argv += ["--scenario", meta["name"]]
    elif kind == "exhaustive":
        argv += ["--exhaustive", params["pair"]]
    elif kind == "countdown":
        argv += ["--countdown", params["target"]]
    else:
        argv += ["--random", "--seconds", str(params["seconds"]), "--ops", str(params["ops"])]
        for role in ("writers", "compressors", "readers", "listers", "archivers", "rollouts"):
            argv += [f"--{role}", str(params[role])]
        for size in params["line_sizes"]:
            argv += ["--line-size", str(size)]
        argv += ["--big-line", str(params["big_line"])] + (["--kills"] if params["kills"] else [])
        argv += ["--max-delay-ms", str(params.get("max_delay_ms", 0.0)), "--agers", str(params.get("agers", 0))]
        argv += [arg for role, name in params.get("home_mounts", ()) for arg in ("--home-mount", f"{role}={name}")]
        argv += ["--one-writer-machine"] if params.get("one_writer_machine") else []
    # The harness runs from its source tree (it need not be installed): rerun from there.
    return f"cd {shlex.quote(_SOURCE_ROOT)} && {shlex.join(argv)}"


def write_bundle(root: str, workdir: str, meta: dict, schedule: dict, verdict_text: str,
                 verdict_data: dict | None = None) -> str:
    """Write a bundle under ``root`` (with ``timeline.html``); return its folder."""
    folder = os.path.join(root, f"{time.strftime('%Y%m%d-%H%M%S')}-{meta['name'].replace('/', '_')}-{os.getpid()}")
    suffix = 0
    while os.path.exists(folder + (f"-{suffix}" if suffix else "")):
        suffix += 1
    folder += f"-{suffix}" if suffix else ""
    os.makedirs(os.path.join(folder, "stderr"))
    meta = dict(meta, versions=versions(), command=rerun_command(meta),
                replay=f"cd {shlex.quote(_SOURCE_ROOT)} && "
                       + shlex.join([sys.executable, "-m", "conformance.cli", "replay", os.path.abspath(folder)]))
    with open(os.path.join(folder, "meta.json"), "w") as handle:
        json.dump(meta, handle, indent=1, sort_keys=True)
    with open(os.path.join(folder, "schedule.json"), "w") as handle:
        json.dump(schedule, handle, indent=1)
    write_history(os.path.join(folder, "history.jsonl"), load_events(workdir))
    with open(os.path.join(folder, "verdict.txt"), "w") as handle:
        handle.write(verdict_text + "\n\nrerun:  " + meta["command"] + "\nreplay: " + meta["replay"] + "\n")
    for label in ("snapshot-before", "snapshot-after"):
        for path in glob.glob(os.path.join(workdir, label + "*")):
            target = os.path.join(folder, os.path.basename(path))
            (shutil.copytree if os.path.isdir(path) else shutil.copy2)(path, target)
    for path in glob.glob(os.path.join(workdir, "stderr-*.txt")):
        shutil.copy2(path, os.path.join(folder, "stderr", os.path.basename(path)[len("stderr-"):]))
    if verdict_data is not None:
        # the violations with their operations as data (verdict.txt says the same in words)
        with open(os.path.join(folder, "verdict.json"), "w") as handle:
            json.dump({k: v for k, v in verdict_data.items() if k != "stats"}, handle, indent=1)
    write_timeline(folder)
    return folder


def load_meta(folder: str) -> tuple[dict, dict]:
    """(meta, schedule) of a bundle; raises FileNotFoundError when ``folder`` is not one."""
    with open(os.path.join(folder, "meta.json")) as handle:
        meta = json.load(handle)
    with open(os.path.join(folder, "schedule.json")) as handle:
        schedule = json.load(handle)
    return meta, schedule
