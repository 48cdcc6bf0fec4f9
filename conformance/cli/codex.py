"""``rollout-conformance codex install``: put the pinned Codex CLI into the project-local folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance.stores.codex.install import PACKAGE, CodexMissing, install, install_folder


def register(subparsers) -> None:
    codex = subparsers.add_parser("codex", help="the real Codex CLI as a store under test (--store codex)")
    actions = codex.add_subparsers(dest="codex_command", required=True, metavar="ACTION")
    p = actions.add_parser("install", help=f"npm install {PACKAGE} into {install_folder()} and verify its version")
    p.add_argument("--folder", type=Path, default=None, help="install here instead (default: %(default)s)")
    p.set_defaults(func=_cmd_install)


def _cmd_install(args: argparse.Namespace) -> int:
    try:
        binary = install(args.folder)
    except CodexMissing as exc:
        print(f"codex install: {exc}", file=sys.stderr)
        return 1
    print(f"installed {PACKAGE}: {binary}")
    return 0
