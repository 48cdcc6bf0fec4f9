"""``rollout-conformance probe``: whether a home's filesystem can carry the coordination schemes."""

from __future__ import annotations

import argparse
import json

from conformance.api.exit_codes import FAILED, INCONCLUSIVE, PASSED, usage_error

EXIT_FOR_VERDICT = {"ok": PASSED, "unsafe": FAILED, "unknown": INCONCLUSIVE}


def _cmd_probe(args: argparse.Namespace) -> int:
    from conformance.probe.checks import ProbeUsageError, probe

    try:
        report = probe(args.home, args.other_path, args.host, args.host_path)
    except ProbeUsageError as exc:
        return usage_error("probe", str(exc))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
        return EXIT_FOR_VERDICT[report.verdict]
    fs = report.filesystem
    print(f"home {report.home}" + (f" on {fs.type} {fs.source} mounted at {fs.mount_point} ({','.join(fs.options)})"
                                   if fs else ""))
    for prop in report.properties:
        print(f"  {prop.name:<24} {prop.verdict:<9} {prop.detail}")
    if report.host:
        print(f"  (--host {report.host}, the home seen there at {report.host_path or report.home})")
    print(f"verdict: {report.verdict}")
    return EXIT_FOR_VERDICT[report.verdict]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "probe", help="tell whether a home's filesystem can carry the coordination schemes (before compressing)",
        description="Probe the filesystem of a home in a scratch folder it creates and removes: the filesystem "
                    "type and the mount options that keep flock(2) locks local (NFS local_lock, FUSE, Lustre "
                    "localflock), whether flock excludes between processes, between two paths to the home and "
                    "between this machine and another (--host, through an execnet gateway), "
                    "whether renameat2(RENAME_NOREPLACE) works, whether mtimes keep nanoseconds and whether a "
                    "folder fsync is accepted. One verdict per property: ok, unsafe, unknown or not_asked. "
                    "Exit 0 when every property is ok (or not asked), 1 when one is unsafe, 3 when one could "
                    "not be told.",
    )
    p.add_argument("--home", required=True, metavar="PATH", help="the home folder to probe (e.g. ~/.codex)")
    p.add_argument("--other-path", metavar="P",
                   help="another path to the same home (a second mount, another machine's path seen here)")
    p.add_argument("--host", metavar="SPEC",
                   help="another machine that reaches the home, as an execnet gateway spec (ssh=user@host, "
                        "ssh=user@host//python=python3, socket=HOST:PORT, popen): whether flock excludes between "
                        "it and this machine; an unreachable host is unknown (exit 3), never ok")
    p.add_argument("--host-path", metavar="P", help="the home's path on the --host machine (default: the same as --home)")
    p.add_argument("--json", action="store_true",
                   help="print the report as JSON (conformance/protocol/schemas/probe-report.schema.json)")
    p.set_defaults(func=_cmd_probe, validate=_problem)


def _problem(args: argparse.Namespace) -> str:
    if args.host_path and not args.host:
        return "--host-path names the home's path on another machine: give that machine with --host SPEC"
    return ""
