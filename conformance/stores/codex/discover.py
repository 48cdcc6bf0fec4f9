"""The codex binaries on this machine and what each would do on a compressed home.

Contract: :func:`candidates` lists every codex executable found on PATH, under npm's global prefix,
bundled in editor extensions (``~/.vscode*/extensions``, ``~/.cursor*/extensions``, ...) and in this
project's install folder, each once (by real path); :func:`judge` turns a binary's probed facts into
what it would do once a home is compressed: lose writes (its sessions hold no writer lock a
compressor can see), fail to see sessions (it cannot read ``.jsonl.zst``), or neither.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from dataclasses import dataclass

from conformance.stores.codex.facts import CodexFacts
from conformance.stores.codex.install import install_folder

#: Where editors keep their extensions (each may bundle its own codex binary).
_EXTENSION_GLOBS = ("~/.vscode*/extensions", "~/.vscode-server*/extensions", "~/.cursor*/extensions",
                    "~/.windsurf*/extensions", "~/.vscodium*/extensions")
SAFE, CANNOT_SEE, LOSES_WRITES = "safe", "cannot see", "loses writes"


@dataclass(frozen=True)
class Found:
    """One codex executable and where it was found (``PATH``, ``npm global``, ``extension``, ``install``)."""

    path: str
    where: str


def candidates(home_dir: str | None = None) -> list[Found]:
    """Every codex executable found, each real path once, in the order above."""
    home_dir = home_dir or os.path.expanduser("~")
    found: list[Found] = []
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        found.append(Found(os.path.join(folder, "codex"), "PATH"))
    npm = shutil.which("npm")
    if npm:
        try:
            prefix = subprocess.run([npm, "prefix", "-g"], capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            prefix = ""
        if prefix:
            found += [Found(p, "npm global") for p in _codex_files(os.path.join(prefix, "lib", "node_modules"))]
    for pattern in _EXTENSION_GLOBS:
        for folder in glob.glob(pattern.replace("~", home_dir, 1)):
            found += [Found(p, "extension") for p in _codex_files(folder)]
    found += [Found(p, "install") for p in _codex_files(str(install_folder()))]
    seen, unique = set(), []
    for item in found:
        real = os.path.realpath(item.path)
        if real not in seen and os.path.isfile(real) and os.access(real, os.X_OK):
            seen.add(real)
            unique.append(item)
    return unique


def _codex_files(root: str) -> list[str]:
    """Native codex executables under ``root`` (not node wrappers: a file named codex, not a script)."""
    hits = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            if name in ("codex", "codex.exe") and "node_modules/.bin" not in folder:
                path = os.path.join(folder, name)
                if _is_native(path):
                    hits.append(path)
    return sorted(hits)


def _is_native(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"\x7fELF"
    except OSError:
        return False


def judge(facts: CodexFacts) -> tuple[str, str]:
    """(verdict, why) of a binary on a home once it is compressed; loss outranks blindness, both are said."""
    why = []
    if facts.resume_works and not facts.resume_holds_writer_lock:
        why.append("its sessions hold no thread-writer-locks/<id>.lock, so a compressor that probes only those "
                   "locks unlinks the file a session has open and the session's next writes go nowhere")
    if not facts.reads_zst:
        why.append(f"it cannot read .jsonl.zst rollouts ({facts.zst_error})")
    if not why:
        return SAFE, "reads .jsonl.zst and holds its writer lock while a session is open"
    return (LOSES_WRITES if facts.resume_works and not facts.resume_holds_writer_lock else CANNOT_SEE), "; ".join(why)
