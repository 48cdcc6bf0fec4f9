"""A session lister and viewer for ``~/.codex`` in the style of published ones, with the usual bugs on demand.

    python tests/doubles/sessions.py [--mode M] list        # id, title, tokens; then totals
    python tests/doubles/sessions.py [--mode M] show ID     # one session's messages
    python tests/doubles/sessions.py [--mode M] show FILE   # the same, given the rollout file

It reads ``$CODEX_HOME`` (else ``~/.codex``).  ``--mode`` picks how it treats compressed rollouts:
``zst`` reads them as the spec says (plain wins, every frame, temps ignored); ``plain-only`` globs
``*.jsonl`` like most tools written before compression shipped; ``first-frame`` decodes one zstd
frame only; ``text`` opens every rollout-named file as UTF-8 text (and crashes on a ``.zst``);
``hang`` waits forever on the first ``.zst`` it meets, like a tool blocked on a pipe.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

import zstandard

MODES = ("zst", "plain-only", "first-frame", "text", "hang")


def _files(home: Path, mode: str) -> list[Path]:
    pattern = "rollout-*.jsonl" if mode == "plain-only" else "rollout-*.jsonl*"
    found = [p for top in ("sessions", "archived_sessions") for p in (home / top).rglob(pattern)]
    if mode == "text":
        return sorted(found)
    rollouts = [p for p in found if p.name.endswith((".jsonl", ".jsonl.zst"))]  # temps are not rollouts
    plain = {p for p in rollouts if p.suffix == ".jsonl"}
    return sorted(p for p in rollouts if p.suffix == ".jsonl" or p.with_suffix("") not in plain)


def _read(path: Path, mode: str) -> str:
    if mode in ("text", "plain-only") or path.suffix == ".jsonl":  # only a .jsonl was ever expected
        return path.read_text(encoding="utf-8")
    if mode == "hang":
        while True:
            time.sleep(3600)
    if mode == "first-frame":  # a decompressobj ends with its frame: the rest is left in unused_data
        return zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes()).decode("utf-8")
    with open(path, "rb") as f:
        reader = zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True)
        return io.TextIOWrapper(reader, encoding="utf-8").read()


def _summary(path: Path, mode: str) -> dict:
    meta, title, tokens, messages = {}, "", 0, []
    for line in _read(path, mode).splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue  # a torn or junk line: skip it, as the spec says
        payload = item.get("payload") or {}
        if item.get("type") == "session_meta":
            meta = payload
        elif item.get("type") == "event_msg" and payload.get("type") == "user_message":
            messages.append(payload.get("message", ""))
            title = title or payload.get("message", "")[:40]
        elif item.get("type") == "event_msg" and payload.get("type") == "token_count" and payload.get("info"):
            tokens = payload["info"]["total_token_usage"]["total_tokens"]
    return {"id": meta.get("id", "?"), "title": title, "tokens": tokens, "messages": messages,
            "started": meta.get("timestamp", "")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sessions", description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=MODES, default="zst")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list")
    sub.add_parser("show").add_argument("id", help="a session id or a rollout file")
    args = parser.parse_args(argv)
    home = Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")
    if args.command == "show" and os.sep in args.id:
        sessions = [_summary(Path(args.id), args.mode)]  # plain-only mode reads a .zst as text here
    else:
        sessions = [_summary(p, args.mode) for p in _files(home, args.mode)]
    if args.command == "show":
        match = [s for s in sessions if s["id"] == args.id or os.sep in args.id]
        if not match:
            print(f"no session {args.id}", file=sys.stderr)
            return 1
        print("\n".join(match[0]["messages"]))
        return 0
    for s in sorted(sessions, key=lambda s: s["started"], reverse=True):
        print(f"{s['id']}  {s['started'][:10]}  {s['tokens']:>10,}  {s['title']}")
    print(f"{len(sessions)} sessions, {sum(s['tokens'] for s in sessions):,} tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
