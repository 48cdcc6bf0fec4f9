"""``rollout-conformance reader-check``: the command line of the before/after check."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance.reader_check.cases import CASES
from conformance.reader_check.check import Settings, run_check
from conformance.reader_check.noise import DEFAULT_MAX_RUNS, MIN_RUNS
from conformance.reader_check.report import text, write_json, write_junit
from conformance.reader_check.runner import Template, UsageError, parse_env

EPILOG = """\
placeholders: {home} (the generated ~/.codex), {sessions}, {archived_sessions}, {user_home} (its
parent, the HOME of every run); per-rollout lookup commands: {id}, {path} (the file as it is on
disk, .jsonl.zst once compressed), {logical} (the .jsonl path), {stem} (the file name without
.jsonl: rollout-<time>-<id>), {marker}.
Every run gets HOME={user_home} and CODEX_HOME={home} unless --env says otherwise. stdout and stderr
are both read; the plain run is repeated (at least 3 times, up to --baseline-runs) until what varies
between identical runs is known, and once more after the last case; only what varied is ignored.
exit codes: 0 same information after compression, 1 finding, 2 usage error, 3 inconclusive.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "reader-check", help="does a tool that reads ~/.codex still see sessions once they are compressed?",
        description="Run a tool over a realistic home, then over the same home compressed into each hard "
                    "case, and report what disappeared or changed.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cmd", action="append", required=True, metavar="'TOOL ARGS...'",
                   help="the tool's command line (repeatable); one naming {id} or {path} runs per rollout")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="set for every run")
    p.add_argument("--count", type=int, default=120, help="rollouts in the home (default 120)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated home (same seed, byte-identical home)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per run before it counts as hung")
    p.add_argument("--large-mb", type=float, default=8.0, help="size of the one large rollout (0: none)")
    p.add_argument("--lookups", type=int, default=2, help="rollouts looked up per case by {id}, {path} or {stem} commands")
    p.add_argument("--baseline-runs", type=int, default=DEFAULT_MAX_RUNS,
                   help="at most this many identical plain runs per command to learn what varies (at least 3)")
    p.add_argument("--scope", choices=("all", "sessions"), default="all",
                   help="sessions: the tool reads sessions/ only, archived rollouts are not judged")
    p.add_argument("--case", action="append", choices=[c.name for c in CASES], help="only these cases")
    p.add_argument("--report", metavar="FILE", help="write the JSON report here")
    p.add_argument("--junitxml", metavar="FILE", help="write a JUnit XML report here")
    p.add_argument("--keep", metavar="DIR", help="build and keep the homes and manifest.json in DIR")
    p.set_defaults(func=main, validate=bounds_problem)


#: Each numeric option's range (low, high, inclusive): checked before any work.
BOUNDS = (("count", 4, 100_000, "rollouts; cold and hot, active and archived need 4"),
          ("seed", 0, 2**63 - 1, "any non-negative integer"),
          ("timeout", 0.001, 86_400, "seconds per run"),
          ("large_mb", 0, 4096, "MiB; 0 for no large rollout"),
          ("lookups", 1, 1000, "sessions looked up per case"),
          ("baseline_runs", MIN_RUNS, 100, "identical plain runs"))


def bounds_problem(args: argparse.Namespace) -> str:
    """The one line naming the first numeric option out of its range, or ""."""
    for name, low, high, unit in BOUNDS:
        value = getattr(args, name)
        if not low <= value <= high:  # also refuses nan
            return f"--{name.replace('_', '-')} {_show(value)}: must be between {_show(low)} and {_show(high)} ({unit})"
    return ""


def _show(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def main(args: argparse.Namespace) -> int:
    try:
        settings = Settings(
            commands=tuple(Template.parse(c) for c in args.cmd), env=parse_env(args.env), count=args.count,
            seed=args.seed, timeout=args.timeout, large_bytes=int(args.large_mb * (1 << 20)),
            lookups_per_case=args.lookups, cases=tuple(args.case or (c.name for c in CASES)),
            work=Path(args.keep).resolve() if args.keep else None, active_only=args.scope == "sessions",
            max_baseline=args.baseline_runs)
        print("reader-check: " + "; ".join(f"`{t.text}`" for t in settings.commands), flush=True)
        outcome = run_check(settings, log=lambda line: print(f"  {line}", file=sys.stderr, flush=True))
    except UsageError as exc:
        print(f"reader-check: {exc}", file=sys.stderr)
        return 2
    print("\n".join(text(outcome, settings)))
    if args.report:
        write_json(outcome, settings, args.report)
    if args.junitxml:
        write_junit(outcome, args.junitxml)
    return outcome.exit_code
