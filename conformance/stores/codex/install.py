"""Where the pinned Codex CLI lives and how it gets there.

Contract: :func:`install` puts ``@openai/codex@PINNED_VERSION`` into the project-local folder with
npm and verifies the version the binary prints; :func:`find_binary` returns the codex executable to
run (the pinned install first, then ``codex`` on PATH) or raises :class:`CodexMissing` saying how
to install it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

PINNED_VERSION = "0.171.0"
PACKAGE = f"@openai/codex@{PINNED_VERSION}"
# The npm package is a node wrapper; its platform dependency carries the static native binary,
# which is what we run (no node process in between, so kills and strace reach codex itself).
_NATIVE = "node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex"
_WRAPPER = "node_modules/.bin/codex"
INSTALL_HINT = "run `rollout-conformance codex install` (needs npm), or name one with codex:/path/to/codex"


class CodexMissing(Exception):
    """No usable codex binary: the message says what was looked for and how to install it."""


def install_folder() -> Path:
    """The project-local install folder: ``$ROLLOUT_CONFORMANCE_CODEX_DIR`` or ``<checkout>/.codex-install``."""
    configured = os.environ.get("ROLLOUT_CONFORMANCE_CODEX_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / ".codex-install"


def pinned_binary(folder: Path | None = None) -> Path | None:
    """The codex executable of the pinned install in ``folder``, None when it is not installed."""
    folder = folder or install_folder()
    for relative in (_NATIVE, _WRAPPER):
        candidate = folder / relative
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def find_binary() -> str:
    """The pinned install's codex, else ``codex`` on PATH; CodexMissing when neither exists."""
    pinned = pinned_binary()
    if pinned is not None:
        return str(pinned)
    on_path = shutil.which("codex")
    if on_path:
        return on_path
    raise CodexMissing(f"no codex binary: none installed in {install_folder()} and none on PATH; {INSTALL_HINT}")


def missing_reason() -> str | None:
    """Why no codex can be found (for a skip), or None when :func:`find_binary` finds one."""
    try:
        find_binary()
    except CodexMissing as exc:
        return str(exc)
    return None


def binary_version(binary: str) -> str:
    """What ``codex --version`` prints (e.g. ``codex-cli 0.171.0``); CodexMissing if it cannot run."""
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CodexMissing(f"cannot run {binary} --version ({exc}); {INSTALL_HINT}") from exc
    if done.returncode != 0:
        raise CodexMissing(f"{binary} --version exited with {done.returncode}: {done.stderr.strip()[:300]}")
    return done.stdout.strip()


def install(folder: Path | None = None) -> Path:
    """npm-install the pinned package into ``folder`` and return the verified binary."""
    folder = folder or install_folder()
    npm = shutil.which("npm")
    if npm is None:
        raise CodexMissing("npm is not on PATH: install Node.js (with npm) first, then run this again")
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", "--no-save", PACKAGE],
        capture_output=True, text=True,
    )
    if done.returncode != 0:
        raise CodexMissing(f"npm install {PACKAGE} failed ({done.returncode}):\n{done.stderr.strip()[-2000:]}")
    binary = pinned_binary(folder)
    if binary is None:
        raise CodexMissing(f"npm installed {PACKAGE} but no codex binary is at {folder / _NATIVE}")
    printed = binary_version(str(binary))
    if printed != f"codex-cli {PINNED_VERSION}":
        raise CodexMissing(f"{binary} prints {printed!r}, expected 'codex-cli {PINNED_VERSION}'")
    return binary
