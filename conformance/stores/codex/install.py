"""Where Codex CLI releases live and how they get there, side by side, one folder per release.

Contract: :func:`install` puts the native binary of any ``@openai/codex`` release into
``<install folder>/<version>/`` with npm and verifies the version it prints; :func:`find_binary`
returns the codex executable to run for a release (or, without one, the pinned release, then
``codex`` on PATH) or raises :class:`CodexMissing` saying how to install it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

PINNED_VERSION = "0.171.0"
PACKAGE = f"@openai/codex@{PINNED_VERSION}"
_VERSION = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?$")
# Each release publishes its static musl binary as a platform version of the same package
# (``@openai/codex@0.145.0-linux-x64``); that is what runs (no node wrapper in between, so kills
# and strace reach codex itself).  The binary moved inside the package around 0.140.
_PLATFORM_SUFFIX = "-linux-x64"
_TRIPLE = "vendor/x86_64-unknown-linux-musl"
_LAYOUTS = (f"{_TRIPLE}/bin/codex", f"{_TRIPLE}/codex/codex")
# What an earlier `codex install` left: the pinned package with its platform dependency.
_LEGACY = (f"node_modules/@openai/codex-linux-x64/{_TRIPLE}/bin/codex", "node_modules/.bin/codex")
INSTALL_HINT = ("run `rollout-conformance codex install [VERSION]` (needs npm), or name one with "
                "codex:VERSION or codex:/path/to/codex")


class CodexMissing(Exception):
    """No usable codex binary: the message says what was looked for and how to install it."""


def is_version(text: str) -> bool:
    """True when ``text`` names a release (``0.145.0``, ``0.148.0-alpha.8``), not a path."""
    return bool(_VERSION.match(text))


def version_key(version: str) -> tuple:
    """Sort key ordering releases by number (the registry's dates are not monotonic in version)."""
    numbers, _, pre = version.partition("-")
    return (*(int(n) for n in numbers.split(".")), pre == "", pre)


def install_folder() -> Path:
    """The project-local install folder: ``$ROLLOUT_CONFORMANCE_CODEX_DIR`` or ``<checkout>/.codex-install``."""
    configured = os.environ.get("ROLLOUT_CONFORMANCE_CODEX_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / ".codex-install"


def _executable(candidate: Path) -> bool:
    return candidate.is_file() and os.access(candidate, os.X_OK)


def release_binary(version: str, folder: Path | None = None) -> Path | None:
    """The codex executable of release ``version`` installed in ``folder``, None when it is not there."""
    folder = folder or install_folder()
    package = folder / version / "node_modules" / "@openai" / "codex"
    candidates = [package / layout for layout in _LAYOUTS]
    if version == PINNED_VERSION:
        candidates += [folder / legacy for legacy in _LEGACY]
    return next((c for c in candidates if _executable(c)), None)


def installed_versions(folder: Path | None = None) -> list[str]:
    """Every release installed in ``folder``, oldest first."""
    folder = folder or install_folder()
    found = {entry.name for entry in folder.iterdir() if is_version(entry.name)} if folder.is_dir() else set()
    if any(_executable(folder / legacy) for legacy in _LEGACY):
        found.add(PINNED_VERSION)
    return sorted((v for v in found if release_binary(v, folder) is not None), key=version_key)


def pinned_binary(folder: Path | None = None) -> Path | None:
    """The codex executable of the pinned release in ``folder``, None when it is not installed."""
    return release_binary(PINNED_VERSION, folder)


def find_binary(version: str | None = None) -> str:
    """Release ``version``'s installed codex; without one the pinned release's, else ``codex`` on PATH."""
    if version is not None:
        found = release_binary(version)
        if found is None:
            raise CodexMissing(f"codex {version} is not installed in {install_folder()}: run "
                               f"`rollout-conformance codex install {version}` (needs npm)")
        return str(found)
    pinned = pinned_binary()
    if pinned is not None:
        return str(pinned)
    on_path = shutil.which("codex")
    if on_path:
        return on_path
    raise CodexMissing(f"no codex binary: none installed in {install_folder()} and none on PATH; {INSTALL_HINT}")


def missing_reason(version: str | None = None) -> str | None:
    """Why no codex (of ``version``) can be found, for a skip; None when :func:`find_binary` finds one."""
    try:
        find_binary(version)
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


def install(version: str = PINNED_VERSION, folder: Path | None = None) -> Path:
    """npm-install release ``version``'s native binary into ``folder/<version>`` and return it, verified."""
    if not is_version(version):
        raise CodexMissing(f"{version!r} is not a release number such as {PINNED_VERSION}")
    folder = folder or install_folder()
    existing = release_binary(version, folder)
    if existing is not None and binary_version(str(existing)) == f"codex-cli {version}":
        return existing
    npm = shutil.which("npm")
    if npm is None:
        raise CodexMissing("npm is not on PATH: install Node.js (with npm) first, then run this again")
    target = folder / version
    target.mkdir(parents=True, exist_ok=True)
    package = f"@openai/codex@{version}{_PLATFORM_SUFFIX}"
    done = subprocess.run(
        [npm, "install", "--prefix", str(target), "--no-audit", "--no-fund", "--no-save", package],
        capture_output=True, text=True,
    )
    if done.returncode != 0:
        raise CodexMissing(f"npm install {package} failed ({done.returncode}); is the release number right and "
                           f"the registry reachable?\n{done.stderr.strip()[-2000:]}")
    binary = release_binary(version, folder)
    if binary is None:
        raise CodexMissing(f"npm installed {package} but no codex binary is at any of "
                           f"{', '.join(_LAYOUTS)} under {target / 'node_modules/@openai/codex'}")
    printed = binary_version(str(binary))
    if printed != f"codex-cli {version}":
        raise CodexMissing(f"{binary} prints {printed!r}, expected 'codex-cli {version}'")
    return binary
