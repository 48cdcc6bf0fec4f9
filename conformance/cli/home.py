"""Command-line access to the reference store: ``compress`` a real home, poke at it by hand."""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
from dataclasses import asdict

from conformance.api.exit_codes import FAILED, INCONCLUSIVE, PASSED, UNREADABLE, USAGE

from reference.discovery import collecting_unreadable
from conformance.api.errors import StoreError
from reference.home import Home
from reference.store import ReferenceStore
from reference import worker

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``7d``, ``12h``, ``30m``, ``45s`` or plain seconds; ``0`` makes everything cold."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 7d, 12h, 30m, 0)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _human_bytes(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{size} B"
        size /= 1024
    return f"{size:.1f} TiB"


class ProgressBar:
    """A one-line bar on a terminal; silent when stderr is not a terminal (CI logs stay clean)."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.enabled = stream.isatty()

    def __call__(self, done: int, total: int, rel: str) -> None:
        if not self.enabled:
            return
        width = 30
        filled = width * done // max(total, 1)
        name = rel if len(rel) <= 50 else "..." + rel[-47:]
        self.stream.write(f"\r[{'#' * filled}{' ' * (width - filled)}] {done}/{total} {name:<50}")
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


def _cmd_compress(args: argparse.Namespace) -> int:
    home = Home.open(args.home, args.cold_after)
    report = worker.run(home, dry_run=args.dry_run, progress=ProgressBar())
    if not report.ran:
        print(f"not run: {report.reason}; nothing was changed", file=sys.stderr)
        return INCONCLUSIVE
    counts: dict[str, int] = {}
    for result in report.results.values():
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    before = sum(r.bytes_before for r in report.results.values())
    after = sum(r.bytes_after for r in report.results.values())
    title = "dry run (nothing changed)" if args.dry_run else "worker run"
    print(f"{title} over {home.root}")
    for outcome in sorted(counts):
        print(f"  {outcome:<28} {counts[outcome]}")
    if not args.dry_run:
        ratio = f" ({after / before:.1%})" if before else ""
        print(f"  bytes before/after          {_human_bytes(before)} -> {_human_bytes(after)}{ratio}")
        print(f"  stale temps removed         {len(report.temps_removed)}")
        fixed = [r for r in report.reconciled if r.verdict in ("equal", "stale_zst")]
        print(f"  both representations fixed  {len(fixed)}")
    for rel, result in sorted(report.results.items()):
        if result.outcome == "failed":
            print(f"  failed: {rel}: {result.detail}")
    for left in report.reconciled:
        if left.verdict == "conflict":
            print(f"warning: conflict: {left.rel}: plain and .zst diverge; both kept, resolve by hand", file=sys.stderr)
        elif left.verdict == "busy":
            print(f"warning: busy: {left.rel}: both representations exist and a live process holds one; "
                  "left for a later run", file=sys.stderr)
    if counts.get("failed"):
        return FAILED
    return UNREADABLE if any(r.verdict == "conflict" for r in report.reconciled) else PASSED


def _store(args: argparse.Namespace) -> ReferenceStore:
    store = ReferenceStore()
    store.configure(args.home, getattr(args, "cold_after", 7 * 86400))
    return store


def _emit(value) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


def _cmd_read(args):
    result = _store(args).read(args.path)
    if args.json:
        record = asdict(result)
        record["content_b64"] = base64.b64encode(record.pop("content")).decode()
        _emit(record)
    else:
        sys.stdout.buffer.write(result.content)
        print(f"# {result.items} items, {result.parse_errors} parse errors, {result.representation}", file=sys.stderr)
    return 0


def _cmd_list(args):
    for entry in _store(args).list(archived=args.archived):
        print(entry.path if not args.json else json.dumps(asdict(entry)))
    return 0


def _cmd_find(args):
    entry = _store(args).find(args.id)
    if entry is None:
        print(f"no rollout with id {args.id}", file=sys.stderr)
        return 1
    print(entry.physical_path)
    return 0


def _cmd_search(args):
    try:
        args.text.encode("utf-8")
    except UnicodeEncodeError:
        print("search: the text is not valid UTF-8 (rollouts are UTF-8 JSON, so it cannot match); "
              "check the terminal's encoding", file=sys.stderr)
        return USAGE
    for hit in _store(args).search(args.text, archived=args.archived):
        print(f"{hit.path}:{hit.line_number}")
    return 0


def _cmd_materialize(args):
    decoded = _store(args).materialize(args.path)
    print("materialized" if decoded else "already plain")
    return 0


def _cmd_cleanup(args):
    _emit(asdict(_store(args).cleanup()))
    return 0


def _cmd_demo_home(args):
    from conformance.oracle.homegen import demo_home

    if os.path.isdir(args.dir) and os.listdir(args.dir) and not args.force:
        print(f"demo-home: {args.dir} is not empty (a real ~/.codex?); name an empty or new folder, "
              "or pass --force to add demo rollouts to it", file=sys.stderr)
        return USAGE

    fraction = 0.0 if args.nothing_compressed else 0.3
    manifest = demo_home(args.dir, count=args.count, seed=args.seed, compressed_fraction=fraction)
    if args.manifest:
        manifest.write(args.manifest)
    cold = sum(1 for r in manifest.rollouts if r.old and not r.compressed)
    print(
        f"demo home at {manifest.home}: {len(manifest.rollouts)} rollouts "
        f"({cold} cold and plain, {sum(r.compressed for r in manifest.rollouts)} compressed, "
        f"{sum(r.archived for r in manifest.rollouts)} archived), {len(manifest.temps)} temps, "
        f"{sum(r.tokens['total_tokens'] for r in manifest.rollouts)} tokens in all"
    )
    return 0


def register(subparsers) -> None:
    """Add the reference store's subcommands to the ``rollout-conformance`` parser (each run by run_command)."""
    ours = _register(subparsers)
    for name in ours:
        parser = subparsers.choices[name]
        func = parser.get_default("func")
        parser.set_defaults(func=lambda args, func=func: run_command(func, args))


def _register(subparsers) -> list[str]:
    p = subparsers.add_parser("demo-home", help="generate a realistic home to try the tools on")
    p.add_argument("dir", help="folder to fill (created if missing; refused if not empty, see --force)")
    p.add_argument("--count", type=int, default=300, help="how many rollouts to write")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (same seed, same home)")
    p.add_argument("--force", action="store_true", help="write into a folder that is not empty")
    p.add_argument("--nothing-compressed", action="store_true",
                   help="write every rollout plain (default: 30%% of the cold ones are already .zst)")
    p.add_argument("--manifest", metavar="FILE",
                   help="write the ground truth (ids, markers, token counts, timestamps) here, outside the home")
    p.set_defaults(func=_cmd_demo_home, validate=lambda args: "" if args.count >= 1 else
                   f"--count {args.count}: a demo home needs at least one rollout")

    p = subparsers.add_parser("compress", help="one worker run of the reference store over a home")
    p.add_argument("--home", required=True, help="a home such as ~/.codex")
    p.add_argument("--cold-after", type=parse_duration, default="7d",
                   help="age after which a rollout is cold, e.g. 7d, 12h, 30m, 0 (everything)")
    p.add_argument("--dry-run", action="store_true", help="report what would happen, change nothing")
    p.set_defaults(func=_cmd_compress)

    def with_home(name, func, help_text):
        sub = subparsers.add_parser(name, help=help_text)
        sub.add_argument("--home", required=True, help="the home folder (such as ~/.codex)")
        sub.set_defaults(func=func)
        return sub

    with_home("read", _cmd_read, "print a rollout's logical bytes").add_argument(
        "path", help="the rollout, logical or .zst, relative to the home")
    subparsers.choices["read"].add_argument("--json", action="store_true", help="counts and base64 content")
    sub = with_home("list", _cmd_list, "list logical rollouts, newest first")
    sub.add_argument("--archived", action="store_true", help="list archived_sessions/ instead of sessions/")
    sub.add_argument("--json", action="store_true", help="one JSON entry per line")
    with_home("find", _cmd_find, "print the physical path of a rollout by id").add_argument("id", help="the rollout's UUID")
    sub = with_home("search", _cmd_search, "lines containing TEXT, by logical path")
    sub.add_argument("text", help="the text to find (UTF-8)")
    sub.add_argument("--archived", action="store_true", help="search archived_sessions/ instead of sessions/")
    with_home("materialize", _cmd_materialize, "decode a .zst back to plain").add_argument(
        "path", help="the rollout, logical or .zst, relative to the home")
    with_home("cleanup", _cmd_cleanup, "reconcile duplicates and remove orphaned temps")
    return ["demo-home", "compress", "read", "list", "find", "search", "materialize", "cleanup"]


#: Store errors that mean the command line named something wrong (exit 2); others are exit 1.
_USAGE_KINDS = {"invalid_home", "invalid_name", "outside_home", "bad_request"}


def run_command(func, args) -> int:
    """Run a subcommand: what it could not read is one warning line each and exit 5; a StoreError
    is one line naming its kind (exit 2 when the command line named something wrong, else 1)."""
    with collecting_unreadable() as problems:
        try:
            code = func(args)
        except StoreError as exc:
            print(f"error [{exc.kind}]: {exc}", file=sys.stderr)
            return USAGE if exc.kind in _USAGE_KINDS else FAILED
        except (PermissionError, IsADirectoryError, NotADirectoryError) as exc:
            print(f"error [io_error]: {exc.strerror} ({exc.filename})", file=sys.stderr)
            return FAILED
    problems = list(dict.fromkeys(problems))  # a folder walked by several steps is named once
    for problem in problems:
        print(f"warning: could not read {problem}", file=sys.stderr)
    if problems:
        print(f"warning: {len(problems)} path(s) could not be read: the output above is incomplete",
              file=sys.stderr)
        return UNREADABLE if code == PASSED else code
    return code
