"""Deterministic rollouts shaped like real ones, and homes full of them.

A rollout is a session_meta line, then turns: a user message, a turn_context, assistant text,
function calls whose outputs re-read "files" from a shared pool of source lines (agents read the
same files again and again, which is what makes real rollouts compress 5-10x), token_count events,
now and then an incompressible base64 image, and, in big rollouts, a tool output of several MB on
one line.  Same seed and size -> same bytes, so runs compare like with like.
"""

from __future__ import annotations

import base64
import os
import random
import time
import uuid as uuidlib
from datetime import datetime, timedelta
from pathlib import Path

from conformance import oracle

KB = 1 << 10
MB = 1 << 20
_POOL_LINES = 6000
_WORDS = 1500
_DAY_NS = 86_400 * 10**9


class _Text:
    """A pool of pseudo source lines and prose words built once per seed."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        letters = "abcdefghijklmnopqrstuvwxyz_"
        self.words = ["".join(rng.choices(letters, k=rng.randint(2, 10))) for _ in range(_WORDS)]
        punct = ["(", ")", " = ", ", ", ".", ": ", " -> ", "[", "]", " + ", "  "]
        pool = []
        for _ in range(_POOL_LINES):
            indent = " " * (4 * rng.randint(0, 3))
            parts = [rng.choice(self.words) + rng.choice(punct) for _ in range(rng.randint(2, 10))]
            pool.append(indent + "".join(parts).rstrip())
        self.pool = pool

    def file_excerpt(self, rng: random.Random, n_lines: int) -> str:
        """A contiguous stretch of the pool with line numbers, like `sed -n` / `cat -n` output."""
        start = rng.randrange(0, _POOL_LINES)
        out = []
        for i in range(n_lines):
            out.append(f"{start + i + 1:6d}\t{self.pool[(start + i) % _POOL_LINES]}")
        return "\n".join(out)

    def prose(self, rng: random.Random, n_words: int) -> str:
        return " ".join(rng.choices(self.words, k=n_words))


_TEXTS: dict[int, _Text] = {}


def _text(seed: int) -> _Text:
    if seed not in _TEXTS:
        _TEXTS[seed] = _Text(seed)
    return _TEXTS[seed]


def _token_count(rng: random.Random, total: int) -> bytes:
    info = {"total_token_usage": {"input_tokens": total, "cached_input_tokens": total // 2,
                                  "output_tokens": total // 9, "reasoning_output_tokens": total // 20,
                                  "total_tokens": total + total // 9},
            "last_token_usage": {"input_tokens": rng.randint(100, 9000), "output_tokens": rng.randint(10, 900)},
            "model_context_window": 272000}
    return oracle.line("event_msg", {"type": "token_count", "info": info})


def _function_call(call_id: str, rng: random.Random, text: _Text) -> bytes:
    args = '{"command":["bash","-lc","' + text.prose(rng, rng.randint(2, 8)) + '"],"timeout_ms":120000}'
    return oracle.line("response_item", {"type": "function_call", "name": "shell", "arguments": args,
                                         "call_id": call_id})


def rollout_lines(target: int, seed: int, rollout_id: str | None = None, big_lines: bool = True):
    """Yield lines (bytes with ``\\n``) until about ``target`` bytes; deterministic per (target, seed)."""
    rng = random.Random(seed * 1_000_003 + target)
    text = _text(seed % 4)  # a few distinct pools; rollouts of one home share "their repository"
    rid = rollout_id or str(uuidlib.UUID(int=rng.getrandbits(128), version=4))
    written = 0

    def emit(raw: bytes):
        nonlocal written
        written += len(raw)
        return raw

    yield emit(oracle.session_meta_line(rid))
    tokens = 0
    turn = 0
    # A multi-MB tool output about every 12 MB, and at least one in rollouts of 8 MB and more.
    next_big = 4 * MB if (big_lines and target >= 8 * MB) else (12 * MB if big_lines else None)
    while written < target:
        turn += 1
        yield emit(oracle.user_message_line(text.prose(rng, rng.randint(5, 60))))
        yield emit(oracle.turn_context_line())
        for step in range(rng.randint(1, 6)):
            call_id = f"call_{turn}_{step}_{rng.getrandbits(32):08x}"
            yield emit(_function_call(call_id, rng, text))
            roll = rng.random()
            if next_big is not None and written >= next_big:
                n = (rng.randint(2, 4) * MB) // 60
                output = text.file_excerpt(rng, n)
                next_big += 12 * MB
            elif roll < 0.015:
                # an image: base64 of random bytes does not compress below ~75%
                blob = base64.b64encode(rng.randbytes(rng.randint(20 * KB, 150 * KB))).decode()
                yield emit(oracle.image_line(blob))
                output = "image attached"
            elif roll < 0.6:
                output = text.file_excerpt(rng, rng.randint(5, 400))
            else:
                output = text.prose(rng, rng.randint(10, 300))
            yield emit(oracle.tool_output_line(call_id, output))
            tokens += rng.randint(500, 6000)
            yield emit(_token_count(rng, tokens))
        yield emit(oracle.response_item_line(text.prose(rng, rng.randint(20, 400))))
        if written >= target:
            break


def write_rollout(path: Path, target: int, seed: int, rollout_id: str | None = None, mtime_ns: int | None = None,
                  mode: int = 0o600) -> int:
    """Stream a rollout of about ``target`` bytes to ``path``; return its size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    batch: list[bytes] = []
    with open(path, "wb") as f:
        for raw in rollout_lines(target, seed, rollout_id):
            batch.append(raw)
            if len(batch) >= 256:
                f.write(b"".join(batch))
                batch.clear()
        f.write(b"".join(batch))
        size = f.tell()
    os.chmod(path, mode)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return size


def rollout_name(index: int, seed: int) -> tuple[str, str]:
    """``(rel_path_in_sessions_or_archive_file_name, id)`` for rollout ``index`` of a home."""
    rng = random.Random(seed * 7919 + index)
    rid = str(uuidlib.UUID(int=rng.getrandbits(128), version=4))
    ts = datetime(2025, 1, 1) + timedelta(seconds=index * 3607 + rng.randint(0, 3000))
    return oracle.rollout_name(ts, rid), rid


def big_rollout_home(root: Path, target: int, seed: int = 1, days_old: float = 30) -> tuple[str, int]:
    """A home with one rollout of about ``target`` bytes; returns ``(rel, size)``."""
    name, rid = rollout_name(0, seed)
    rel = oracle.active_path(name)
    mtime = _old(days_old)
    size = write_rollout(Path(root, rel), target, seed, rid, mtime)
    return rel, size


def _old(days: float) -> int:
    return time.time_ns() - int(days * _DAY_NS)


def small_home(root: Path, count: int, seed: int = 2, min_size: int = 2 * KB, max_size: int = 40 * KB,
               compressed_fraction: float = 0.0, archived_fraction: float = 0.1,
               needle: str | None = None, needle_every: int = 100, tiny: bool = False) -> dict:
    """A home of ``count`` small rollouts (log-uniform sizes), some archived, some already `.zst`.

    Every ``needle_every``-th rollout carries ``needle`` in one tool output (for search).
    Returns a manifest: rels, ids, total bytes, one archived id to look up.
    """
    rng = random.Random(seed)
    now_ns = time.time_ns()
    total = 0
    rels, ids = [], []
    archived_id = None
    for i in range(count):
        name, rid = rollout_name(i, seed)
        archived = rng.random() < archived_fraction
        rel = oracle.archived_path(name) if archived else oracle.active_path(name)
        target = int(min_size * (max_size / min_size) ** rng.random())
        if tiny:  # discovery homes: a header and a short exchange, ~1 KB
            text = _text(seed % 4)
            data = b"".join([oracle.session_meta_line(rid), oracle.user_message_line(text.prose(rng, 12)),
                             oracle.response_item_line(text.prose(rng, rng.randint(20, 120))),
                             _token_count(rng, rng.randint(1000, 9000))])
        else:
            data = b"".join(rollout_lines(target, seed * 100_000 + i, rid, big_lines=False))
        if needle and i % needle_every == 0:
            data += oracle.tool_output_line(f"call_needle_{i}", f"log line with {needle} inside")
        mtime_ns = now_ns - 8 * _DAY_NS - i * 10**9  # all cold, distinct mtimes
        if rng.random() < compressed_fraction:
            oracle.write_zst(root, rel + ".zst", data, mtime_ns=mtime_ns)
        else:
            oracle.write_plain(root, rel, data, mtime_ns=mtime_ns)
        if archived and archived_id is None:
            archived_id = rid
        total += len(data)
        rels.append(rel)
        ids.append(rid)
    return {"count": count, "bytes": total, "rels": rels, "ids": ids,
            "lookup_id": archived_id or ids[-1]}


def repetitive_rollout_home(root: Path, target: int, seed: int = 5, days_old: float = 30) -> tuple[str, int]:
    """A rollout of one line repeated (a captured progress bar, `yes`): zstd packs it >1000x.

    Legal and plausible, and the case that shows whether a decoder bounds its *output* per step.
    """
    name, rid = rollout_name(0, seed)
    rel = oracle.active_path(name)
    path = Path(root, rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    tick = oracle.line("event_msg", {"type": "token_count", "info": None})
    block = tick * max(1, MB // len(tick))
    with open(path, "wb") as f:
        f.write(oracle.session_meta_line(rid))
        while f.tell() < target:
            f.write(block)
        size = f.tell()
    os.chmod(path, 0o600)
    mtime = _old(days_old)
    os.utime(path, ns=(mtime, mtime))
    return rel, size
