"""Headless chromium for the project's pages: the DOM after their scripts ran, and screenshots.

Contract: :func:`find_chromium` names the browser or raises :class:`BrowserUnavailable` saying how
to install it; :func:`rendered_dom` returns the DOM a page has once its scripts ran (pages record
script errors in ``data-js-errors`` and finish with ``data-rendered`` on ``<html>``);
:func:`screenshot` writes a PNG.  Each call starts a fresh browser profile offline and is bounded
by a timeout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_S = 60.0
#: No sandbox (root in containers), no GPU, and nothing that reaches the network on its own.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars")


class BrowserUnavailable(RuntimeError):
    """No headless chromium on this machine (the message says how to get one)."""


def find_chromium() -> str:
    """Path of a chromium binary ($CHROMIUM wins), or BrowserUnavailable."""
    for name in (os.environ.get("CHROMIUM", ""), *CANDIDATES):
        path = shutil.which(name) if name else None
        if path:
            return path
    raise BrowserUnavailable("no chromium found (tried $CHROMIUM, " + ", ".join(CANDIDATES) + "); install it "
                             "with `apt-get install chromium` (.ci/run does when apt is available)")


def _run(page: str, extra: list[str], width: int, height: int) -> subprocess.CompletedProcess:
    browser = find_chromium()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        argv = [browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", *extra,
                "file://" + os.path.abspath(page)]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise BrowserUnavailable(f"{browser} did not finish {page} within {TIMEOUT_S:.0f} s") from None
    if proc.returncode != 0:
        raise BrowserUnavailable(f"{browser} exited {proc.returncode} on {page}: {proc.stderr.strip()[-500:]}")
    return proc


def rendered_dom(page: str, width: int = 1400, height: int = 900) -> str:
    """The serialized DOM of ``page`` after its scripts ran."""
    return _run(page, ["--dump-dom"], width, height).stdout


def screenshot(page: str, out: str, width: int = 1400, height: int = 900) -> str:
    """Write a PNG of ``page`` as a ``width`` x ``height`` window shows it; return ``out``."""
    out = os.path.abspath(out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    _run(page, [f"--screenshot={out}"], width, height)
    if not os.path.isfile(out):
        raise BrowserUnavailable(f"chromium ran but wrote no screenshot to {out}")
    return out
