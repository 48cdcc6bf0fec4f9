"""``rollout-conformance codex install|list|probe``: Codex CLI releases side by side, and what each does.

Contract: ``install [VERSION ...]`` npm-installs each release (default: the pinned one) into its own
folder and verifies it (exit 1 when one fails); ``list`` prints the installed releases with their
probed capabilities; ``probe`` lists every codex binary found on this machine with its version and
whether it would lose writes or fail to see sessions once a home is compressed (exit 0; 3 when a
binary could not be probed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance.api.exit_codes import INCONCLUSIVE
from conformance.stores.codex.install import (PINNED_VERSION, CodexMissing, find_binary, install, install_folder,
                                              installed_versions)


def register(subparsers) -> None:
    codex = subparsers.add_parser("codex", help="the real Codex CLI as a store under test (--store codex[:VERSION])")
    actions = codex.add_subparsers(dest="codex_command", required=True, metavar="ACTION")
    p = actions.add_parser("install", help=f"npm install Codex CLI releases (default {PINNED_VERSION}) side by side "
                                           f"into {install_folder()} and verify their versions")
    p.add_argument("versions", nargs="*", metavar="VERSION", default=[PINNED_VERSION],
                   help="releases to install, e.g. 0.145.0 (select one later with --store codex:0.145.0)")
    p.add_argument("--folder", type=Path, default=None, help="install here instead (default: %(default)s)")
    p.set_defaults(func=_cmd_install)
    p = actions.add_parser("list", help="the installed releases and what each was seen to do")
    p.set_defaults(func=_cmd_list)
    p = actions.add_parser("probe", help="every codex binary on this machine (PATH, npm global, editor extensions, "
                                         "installs) and which would lose writes or not see sessions on a compressed home")
    p.set_defaults(func=_cmd_probe)


def _cmd_install(args: argparse.Namespace) -> int:
    status = 0
    for version in args.versions:
        try:
            binary = install(version, args.folder)
        except CodexMissing as exc:
            print(f"codex install {version}: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"installed codex {version}: {binary}")
    return status


def _cmd_list(_args: argparse.Namespace) -> int:
    from conformance.stores.codex.facts import probe

    versions = installed_versions()
    if not versions:
        print(f"no codex release installed in {install_folder()}; run `rollout-conformance codex install VERSION`")
        return 0
    for version in versions:
        facts = probe(find_binary(version))
        print(f"codex:{version}  capabilities: {', '.join(facts.capabilities()) or 'none'}; "
              f"coordination: {', '.join(facts.coordination()) or 'none'}; "
              f"reads .jsonl.zst: {'yes' if facts.reads_zst else 'no'}")
    return 0


def _cmd_probe(_args: argparse.Namespace) -> int:
    from conformance.api.errors import Inconclusive
    from conformance.stores.codex.discover import candidates, judge
    from conformance.stores.codex.facts import probe

    found = candidates()
    if not found:
        print("no codex binary found (PATH, npm global prefix, editor extensions, the project's installs)")
        return 0
    unprobed = 0
    for item in found:
        try:
            facts = probe(item.path)
        except (CodexMissing, Inconclusive) as exc:
            unprobed += 1
            print(f"{item.path} ({item.where}): could not be probed: {exc}")
            continue
        verdict, why = judge(facts)
        print(f"{item.path} ({item.where}): {facts.printed}: {verdict} once this home is compressed: {why}")
    return INCONCLUSIVE if unprobed else 0
