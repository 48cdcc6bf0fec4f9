"""``versions`` subcommand: codex releases against each other (and the reference) on one home.

Contract: :func:`register` adds ``versions``; for every ordered pair (session release, compressor:
each release that has ``rollout/compress`` and each ``--compressor``) it runs :func:`race_harness.versions.run_pair` and prints one
verdict per pair, the releases' probed facts, and optionally JSON (``--json``, schema
``conformance/protocol/schemas/versions-report.schema.json``), a Markdown page (``--markdown``) and an
HTML page (``--html``).  A pair whose hold experiment lost its line leaves a bundle under
``--bundle-dir``.  Exit 0 when every pair is safe or not applicable, 1 when a pair loses writes or
cannot see, 3 when none does but one is inconclusive, 2 on a usage error (a release not installed
without ``--install``).  ``--replay BUNDLE`` reruns that bundle's hold experiment on a fresh home: exit 1
when the loss reproduced, 0 when the line was kept, 3 when it told nothing, 2 when the bundle is
unreadable or its releases are not installed here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict

from conformance.api.errors import Inconclusive
from conformance.api.exit_codes import FAILED, INCONCLUSIVE, PASSED, USAGE
from conformance.reports import versions_page
from conformance.runtime.workfolder import WorkFolder

FORMAT, FORMAT_VERSION = "rollout-conformance/versions-report", 1


def register(subparsers) -> None:
    cmd = subparsers.add_parser(
        "versions", help="codex releases against each other on one home: who cannot see, who loses writes",
        description="For each ordered pair (session release, compressor): (a) the compressor compresses a home "
                    "of cold rollouts, the session release lists, reads and resumes each; (b) the session release "
                    "holds a resumed rollout open while the compressor runs a pass, then writes: kept or lost; "
                    "(c) with --seconds, a random campaign of the two.")
    cmd.add_argument("releases", nargs="*", metavar="VERSION",
                     help="codex releases, e.g. 0.130.0 0.171.0 (default: every installed one)")
    cmd.add_argument("--compressor", action="append", default=None, metavar="SELECTION",
                     help="one more compressor column besides the releases (repeatable; default: reference)")
    cmd.add_argument("--install", action="store_true", help="install the releases that are missing first (npm)")
    cmd.add_argument("--seconds", type=float, default=0.0, help="random campaign per pair, in seconds (0: none)")
    cmd.add_argument("--seed", type=int, default=0, help="seed of the campaigns")
    cmd.add_argument("--timeout", type=float, default=180.0,
                     help="bound on each codex request and acknowledged turn, in seconds (beyond it: inconclusive)")
    cmd.add_argument("--bundle-dir", default="race-bundles",
                     help="where a lost line leaves its bundle (the hold experiment's, and a failing campaign's)")
    cmd.add_argument("--replay", metavar="BUNDLE",
                     help="rerun the hold experiment of a bundle this command wrote, on a fresh home: exit 1 when "
                          "the line is lost again, 0 when it is kept, 3 when the experiment told nothing")
    cmd.add_argument("--workdir", help="keep the homes of every experiment here (default: a temporary folder)")
    cmd.add_argument("--json", metavar="FILE", help="write the matrix as JSON here ('-': stdout)")
    cmd.add_argument("--markdown", metavar="FILE", help="write the matrix as a Markdown page here ('-': stdout)")
    cmd.add_argument("--html", metavar="FILE", help="write the matrix as a self-contained HTML page here")
    cmd.set_defaults(func=_cmd_versions)


def _cmd_versions(args: argparse.Namespace) -> int:
    from conformance.stores.codex.facts import probe
    from conformance.stores.codex.install import CodexMissing, find_binary, install, installed_versions, version_key

    from race_harness.versions import CANNOT_SEE, INCONCLUSIVE as UNTOLD, LOSES_WRITES, run_pair

    if args.replay:
        return _replay(args)
    releases = sorted(set(args.releases or installed_versions()), key=version_key)
    if not releases:
        return _usage("no codex release installed: name releases and add --install, or run "
                      "`rollout-conformance codex install VERSION ...` first")
    facts = {}
    for version in releases:
        try:
            if args.install:
                install(version)
            facts[version] = probe(find_binary(version))
        except CodexMissing as exc:
            return _usage(str(exc) + ("" if args.install else " (or add --install)"))
    # a release without rollout/compress compresses nothing: no column (run_pair would say "not applicable")
    columns = [f"codex:{v}" for v in releases if facts[v].has_compress] + (
        args.compressor if args.compressor is not None else ["reference"])
    folder = WorkFolder.create(args.workdir, False, "versions-")
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731 - progress goes to stderr
    results = [run_pair(f"codex:{row}", column, folder.path, args.seconds, args.seed,
                        os.path.abspath(args.bundle_dir), args.timeout, progress=say)
               for row in releases for column in columns]
    for result in results:
        bundle = f" (replay: versions --replay {result.bundle})" if result.bundle else ""
        print(f"{result.session} sessions, {result.compressor} compressor: {result.verdict}: {result.why}{bundle}")
    verdicts = {r.verdict for r in results}
    status = ("failed" if verdicts & {LOSES_WRITES, CANNOT_SEE} else "inconclusive" if UNTOLD in verdicts
              else "passed")
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, "status": status, "seed": args.seed,
            "seconds": args.seconds, "compressors": columns,
            "releases": [{"version": v, **{k: val for k, val in asdict(facts[v]).items() if k != "binary"}}
                         for v in releases],
            "pairs": [asdict(r) for r in results]}
    if args.json:
        _write(args.json, json.dumps(data, indent=1))
    if args.markdown:
        _write(args.markdown, render_markdown(data, " ".join(["rollout-conformance", "versions", *releases])))
    if args.html:
        _write(args.html, versions_page.render(data, os.path.dirname(os.path.abspath(args.html))))
    line = folder.finish("passed" if status == "passed" else "violation")
    if line:
        print(line, flush=True)
    return {"passed": PASSED, "failed": FAILED, "inconclusive": INCONCLUSIVE}[status]


def _replay(args: argparse.Namespace) -> int:
    """Rerun one bundle's hold experiment on a fresh home and say whether the loss came back."""
    from race_harness.versions import replay_hold
    from race_harness.versions_bundle import BundleError

    if args.releases or args.json or args.markdown or args.html or args.seconds:
        return _usage("--replay reruns one bundle: it takes no releases, --seconds, --json, --markdown or --html")
    folder = WorkFolder.create(args.workdir, False, "versions-replay-")
    try:
        data, hold = replay_hold(args.replay, os.path.join(folder.path, "home"))
    except BundleError as exc:
        folder.finish("passed")
        return _usage(str(exc))
    except Inconclusive as exc:  # codex hung or crashed: that proves nothing about the pair
        print(f"inconclusive: the experiment could not finish: {exc.args[0]}")
        print(folder.finish("inconclusive"), flush=True)
        return INCONCLUSIVE
    pair = f"{data['session']} sessions, {data['compressor']} compressor"
    files = ", ".join(hold.representations) or "no file"
    if hold.kept is False:
        status, code = "violation", FAILED
        print(f"reproduced: {pair}: the pass's outcome was {hold.outcome} and the line written after it is in none "
              f"of the rollout's files ({files}): the loss is real")
    elif hold.kept:
        status, code = "passed", PASSED
        print(f"not reproduced: {pair}: the pass's outcome was {hold.outcome} and the line was kept ({files}); "
              f"the bundle recorded {data['outcome']} and a lost line")
    else:
        status, code = "inconclusive", INCONCLUSIVE
        print(f"inconclusive: {pair}: the experiment told nothing: {hold.detail or hold.outcome}")
    line = folder.finish(status)
    if line:
        print(line, flush=True)
    return code


def render_markdown(data: dict, command: str) -> str:
    """The releases' facts and the verdict matrix (rows: session release, columns: compressor)."""
    yes = {True: "yes", False: "no"}
    seconds = f" --seconds {data['seconds']:g}" if data["seconds"] else ""
    out = [f"Produced by `{command}{seconds}`.", "",
           "| release | `rollout/compress` | resumed session holds `thread-writer-locks/<id>.lock` | reads `.jsonl.zst` |",
           "|---|---|---|---|"]
    out += [f"| {r['version']} | {yes[r['has_compress']]} | {yes[r['resume_holds_writer_lock']]} | {yes[r['reads_zst']]} |"
            for r in data["releases"]]
    columns = data["compressors"]
    out += ["", "Rows: the release whose sessions list, read, resume and write; columns: the compressor (the "
            "releases with `rollout/compress`, and the reference).", "",
            "| sessions \\ compressor | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    cell = {(p["session"], p["compressor"]): p["verdict"] + _campaign_words(p["campaign"]) for p in data["pairs"]}
    for release in data["releases"]:
        row = f"codex:{release['version']}"
        out.append(f"| {row} | " + " | ".join(cell.get((row, c), "") for c in columns) + " |")
    return "\n".join(out) + "\n"


def _campaign_words(campaign: dict) -> str:
    """`` (campaign: violation lost_line)`` when a campaign ran, else nothing."""
    if not campaign:
        return ""
    return f" (campaign: {' '.join([campaign['status'], *campaign.get('classes', ())])})"


def _write(target: str, text: str) -> None:
    if target == "-":
        sys.stdout.write(text)
    else:
        with open(target, "w") as handle:
            handle.write(text)


def _usage(message: str) -> int:
    print(f"versions: {message}", file=sys.stderr)
    return USAGE
