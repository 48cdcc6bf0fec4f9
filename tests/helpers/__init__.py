"""Helpers the project's own tests share: the CLI in a subprocess, seeded campaigns, page DOM checks."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
