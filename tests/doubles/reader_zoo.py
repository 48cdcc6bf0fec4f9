"""A zoo of readers of ``~/.codex`` shaped like published ones: each prints what it knows its own way.

    python tests/doubles/reader_zoo.py [--mode M] SHAPE [ARG]

``--mode zst`` reads compressed rollouts as the spec says; ``plain-only`` globs ``*.jsonl`` and, handed
a ``.jsonl.zst`` path, reads it as text and skips every line it cannot parse (silently, exit 0).
The shapes (the verdict a careful human reaches by hand is in tests/reader_check/test_reader_zoo.py):

``short-ids``  one line per session naming it by the last 12 hex digits of its id, then totals
``timing``     full ids, then "Scanned N files in NNms" and a random run id: noise on every run
``drift``      full ids, then "generated at minute M", M moving every 5 runs (a clock's minutes;
               the runs are counted in the file ``$ZOO_RUNS``): noise that the first runs cannot show
``counts``     no session named: "Found N session file(s)" on stderr, totals on stdout
``report P``   one session's totals ("N calls, $X.XX") for the rollout file P, naming nothing
``json``       a JSON array of sessions (full ids, tokens, titles)
``opaque``     numbered rows of dates and tokens, no id or title (``--json`` names them)
``silent``     "ok", whatever the home holds
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sessions  # noqa: E402  (the shared reading code of the small reader)

SHAPES = ("short-ids", "timing", "drift", "counts", "report", "json", "opaque", "silent")


def _lines(path: Path, mode: str) -> list[str]:
    if mode == "plain-only" and path.name.endswith(".zst"):
        return path.read_bytes().decode("utf-8", "replace").splitlines()  # garbage: every line is skipped
    return sessions._read(path, "zst").splitlines()


def _report(path: Path, mode: str) -> str:
    calls = tokens = 0
    for line in _lines(path, mode):
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if not isinstance(item, dict):  # a stray number in the garbage
            continue
        payload = item.get("payload") or {}
        if item.get("type") == "response_item" and payload.get("type") == "function_call":
            calls += 1
        if item.get("type") == "event_msg" and payload.get("type") == "token_count" and payload.get("info"):
            tokens = payload["info"]["total_token_usage"]["total_tokens"]
    return f"{calls} calls, {tokens:,} tokens, ${tokens * 1.25e-6:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reader_zoo", description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("zst", "plain-only"), default="zst")
    parser.add_argument("--json", action="store_true", help="opaque: name each session by its id")
    parser.add_argument("shape", choices=SHAPES)
    parser.add_argument("arg", nargs="?", help="report: the rollout file")
    args = parser.parse_args(argv)
    start = time.monotonic()
    if args.shape == "report":
        print(_report(Path(args.arg), args.mode))
        return 0
    home = Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")
    files = sessions._files(home, args.mode)
    found = sorted((sessions._summary(p, "zst") for p in files), key=lambda s: s["started"])
    total = sum(s["tokens"] for s in found)
    if args.shape == "short-ids":
        for s in found:
            print(f"{s['id'][-12:]}  {s['started'][:10]}  {s['tokens']:>9,}")
        print(f"{len(found)} sessions  {total:,} tokens")
    elif args.shape == "timing":
        for s in found:
            print(f"{s['id']}  {s['tokens']:>9,}  {s['title']}")
        elapsed = (time.monotonic() - start) * 1000 + random.randint(1, 900)
        run_id = f"{random.getrandbits(44):011x}e"  # hex with a letter, as a run id nearly always has
        print(f"Scanned {len(files)} files in {elapsed:.0f}ms (run {run_id}, "
              f"at {time.strftime('%H:%M:%S')})")
    elif args.shape == "drift":
        with open(os.environ["ZOO_RUNS"], "a+") as tally:  # outside the home: it survives between runs
            tally.write(".")
            tally.seek(0)
            runs = len(tally.read())
        for s in found:
            print(f"{s['id']}  {s['tokens']:>9,}  {s['title']}")
        print(f"generated at minute {runs // 5}")
    elif args.shape == "counts":
        print(f"Found {len(files)} session file(s)", file=sys.stderr)
        print(f"total tokens: {total:,}")
    elif args.shape == "json":
        print(json.dumps([{"id": s["id"], "tokens": s["tokens"], "title": s["title"]} for s in found], indent=1))
    elif args.shape == "opaque" and args.json:
        print(json.dumps([{"session": s["id"], "date": s["started"][:10], "tokens": s["tokens"]} for s in found]))
    elif args.shape == "opaque":
        for n, s in enumerate(found, 1):
            print(f"#{n:<4} {s['started'][:10]}  {s['tokens']:>9,} tokens")
    else:
        print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
