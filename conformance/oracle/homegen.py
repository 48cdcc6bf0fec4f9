"""The one generator of realistic homes: rollouts shaped like codex's, with a ground-truth manifest.

A rollout is a ``session_meta`` line (with its ``timestamp``), then turns: a user message (the first
one carries the rollout's unique *marker*), a ``turn_context`` naming the model, function calls whose
outputs re-read "files" from a shared pool of source lines (agents read the same files again and
again, which is what makes real rollouts compress 5-10x), ``token_count`` events whose
``total_token_usage`` is the running sum of their ``last_token_usage``, assistant text, now and then
an incompressible base64 image and, in big rollouts, a tool output of several MB on one line.  Line
timestamps advance through the session; a home spreads its sessions over weeks, and each file's
mtime is the timestamp of its last line.  Same seed, parameters and ``now`` -> same bytes (timestamps
and mtimes are relative to ``now``; :func:`seed_now_ns` gives a ``now`` derived from the seed alone,
so two homes of one seed are byte-identical, mtimes included).

Used by ``demo-home``, ``reader-check``, the suite kit and the benchmarks (``benchmarks/data.py``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import time
import uuid as uuidlib
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from conformance.oracle import disk as oracle

KB = 1 << 10
MB = 1 << 20
DAY_NS = 86_400 * 10**9
_POOL_LINES = 6000
_WORDS = 1500
_MODELS = ("gpt-5", "gpt-5-codex", "gpt-5-mini")
_PROJECTS = ("/home/user/src/api", "/home/user/src/web", "/home/user/src/infra", "/home/user/notes")
_FIXED_START = datetime(2025, 1, 3, 12, 0, 0, tzinfo=timezone.utc)
_SEED_EPOCH_NS = int(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()) * 10**9


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
        return "\n".join(f"{start + i + 1:6d}\t{self.pool[(start + i) % _POOL_LINES]}" for i in range(n_lines))

    def prose(self, rng: random.Random, n_words: int) -> str:
        return " ".join(rng.choices(self.words, k=n_words))


_TEXTS: dict[int, _Text] = {}


def text_pool(seed: int) -> _Text:
    """The shared word and source-line pool for ``seed`` (built once per process)."""
    if seed not in _TEXTS:
        _TEXTS[seed] = _Text(seed)
    return _TEXTS[seed]


def iso(ts: datetime) -> str:
    """A line timestamp as codex writes it: UTC, milliseconds, ``Z``."""
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


_USAGE_KEYS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens", "total_tokens")


def _usage(rng: random.Random) -> dict:
    inp = rng.randint(2_000, 40_000)
    out = rng.randint(50, 3_000)
    return {"input_tokens": inp, "cached_input_tokens": inp * rng.randint(0, 9) // 10, "output_tokens": out,
            "reasoning_output_tokens": out // rng.randint(2, 6), "total_tokens": inp + out}


class Session:
    """Yields a rollout's lines (bytes with ``\\n``); after iteration, the facts a manifest records.

    ``big_lines``: a multi-MB tool output about every 12 MB (and at 4 MB in rollouts of 8 MB and
    more); ``big_line_at``: one multi-MB tool output once ``big_line_at`` bytes are written.
    """

    def __init__(self, target: int, seed: int, rollout_id: str | None = None, *, big_lines: bool = True,
                 start: datetime | None = None, marker: str | None = None, model: str | None = None,
                 big_line_at: int | None = None) -> None:
        self.rng = random.Random(seed * 1_000_003 + target)
        self.text = text_pool(seed % 4)  # a few distinct pools; rollouts of one home share "their repository"
        self.target = target
        self.id = rollout_id or str(uuidlib.UUID(int=self.rng.getrandbits(128), version=4))
        self.start = start or _FIXED_START
        self.now = self.start
        self.marker = marker
        self.model = model or _MODELS[seed % len(_MODELS)]
        self.cwd = _PROJECTS[seed % len(_PROJECTS)]
        self.tokens = dict.fromkeys(_USAGE_KEYS, 0)
        self.written = 0
        self.lines = 0
        self.turns = 0
        self.next_big = 4 * MB if (big_lines and target >= 8 * MB) else (12 * MB if big_lines else None)
        if big_line_at is not None:
            self.next_big = big_line_at

    def _ts(self, min_s: float = 0.2, max_s: float = 20.0) -> str:
        self.now += timedelta(seconds=self.rng.uniform(min_s, max_s))
        return iso(self.now)

    def _emit(self, raw: bytes) -> bytes:
        self.written += len(raw)
        self.lines += 1
        return raw

    def token_count_line(self) -> bytes:
        """One ``token_count`` event; its ``total_token_usage`` is the running sum of ``last_token_usage``."""
        last = _usage(self.rng)
        self.tokens = {k: self.tokens[k] + last[k] for k in _USAGE_KEYS}
        info = {"total_token_usage": dict(self.tokens), "last_token_usage": last, "model_context_window": 272000}
        return oracle.line("event_msg", {"type": "token_count", "info": info}, self._ts(0.1, 1))

    def __iter__(self):
        rng, text = self.rng, self.text
        ts = iso(self.now)
        yield self._emit(oracle.session_meta_line(self.id, ts, cwd=self.cwd, cli_version="0.171.0"))
        while True:
            self.turns += 1
            ask = text.prose(rng, rng.randint(5, 60))
            if self.marker and self.turns == 1:
                ask = f"{self.marker}: {ask}"  # first words: titles and previews show them
            ts = self._ts(30, 1800)  # the user comes back after a while
            yield self._emit(oracle.line("response_item", {"type": "message", "role": "user",
                                                           "content": [{"type": "input_text", "text": ask}]}, ts))
            yield self._emit(oracle.user_message_line(ask, ts))
            yield self._emit(oracle.line("turn_context", {"cwd": self.cwd, "approval_policy": "on-request",
                                                          "model": self.model, "summary": "auto",
                                                          "sandbox_policy": {"mode": "workspace-write"}}, ts))
            for step in range(rng.randint(1, 6)):
                yield from self._tool_call(f"call_{self.turns}_{step}_{rng.getrandbits(32):08x}")
            answer = text.prose(rng, rng.randint(20, 400))
            yield self._emit(oracle.response_item_line(answer, ts=self._ts()))
            yield self._emit(oracle.line("event_msg", {"type": "agent_message", "message": answer}, iso(self.now)))
            if self.written >= self.target:
                return

    def _tool_call(self, call_id: str):
        rng, text = self.rng, self.text
        args = json.dumps({"command": ["bash", "-lc", text.prose(rng, rng.randint(2, 8))], "timeout_ms": 120000})
        yield self._emit(oracle.line("response_item", {"type": "function_call", "name": "shell",
                                                       "arguments": args, "call_id": call_id}, self._ts()))
        roll = rng.random()
        if self.next_big is not None and self.written >= self.next_big:
            output = text.file_excerpt(rng, (rng.randint(2, 4) * MB) // 60)
            self.next_big += 12 * MB
        elif roll < 0.015:
            # an image: base64 of random bytes does not compress below ~75%
            blob = base64.b64encode(rng.randbytes(rng.randint(20 * KB, 150 * KB))).decode()
            yield self._emit(oracle.image_line(blob, self._ts()))
            output = "image attached"
        elif roll < 0.6:
            output = text.file_excerpt(rng, rng.randint(5, 400))
        else:
            output = text.prose(rng, rng.randint(10, 300))
        yield self._emit(oracle.tool_output_line(call_id, output, self._ts()))
        yield self._emit(self.token_count_line())


def rollout_lines(target: int, seed: int, rollout_id: str | None = None, big_lines: bool = True):
    """Yield lines (bytes with ``\\n``) until about ``target`` bytes; deterministic per (target, seed)."""
    return iter(Session(target, seed, rollout_id, big_lines=big_lines))


# --- homes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RolloutTruth:
    """What one generated rollout holds, as a reader of the home should be able to tell."""

    logical: str  # relative to the home
    id: str
    archived: bool
    compressed: bool  # written as .zst
    old: bool  # mtime past the 7-day cold rule
    mode: int
    mtime_ns: int
    sha256: str  # of the logical content
    marker: str = ""  # unique word in the first user message
    started: str = ""  # session_meta timestamp
    ended: str = ""  # last line's timestamp
    model: str = ""
    cwd: str = ""
    lines: int = 0
    size: int = 0
    tokens: dict = field(default_factory=dict)  # final total_token_usage


@dataclass(frozen=True)
class HomeManifest:
    """Every rollout and temp a generator wrote: the ground truth a check compares a tool with."""

    home: Path
    rollouts: tuple[RolloutTruth, ...]
    temps: tuple[tuple[str, bool], ...]  # (relative path, stale)
    now_ns: int = 0  # the "now" the home was generated against (cold = 7+ days before it)

    def as_json(self) -> dict:
        return {"home": str(self.home), "now_ns": self.now_ns, "rollouts": [asdict(r) for r in self.rollouts],
                "temps": [list(t) for t in self.temps],
                "totals": {k: sum(r.tokens.get(k, 0) for r in self.rollouts) for k in _USAGE_KEYS}}

    def write(self, path: Path | str) -> None:
        """Save the manifest as JSON (keep it outside the home: a tool under test scans the home)."""
        Path(path).write_text(json.dumps(self.as_json(), indent=1) + "\n")


def seed_now_ns(seed: int) -> int:
    """A "now" derived from ``seed`` alone (a whole second within 2026-01-01): homes built against it
    are byte-identical for one seed, mtimes included, whatever the clock says."""
    return _SEED_EPOCH_NS + random.Random(f"now-{seed}").randrange(86_400) * 10**9


def unique_markers(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct lowercase words (no digits, so they never read as numbers) prefixed ``mk``."""
    made: dict[str, None] = {}  # insertion-ordered: the same seed gives the same list in every process
    while len(made) < count:
        made["mk" + "".join(rng.choices("bcdfghjklmnpqrstvwxz", k=10))] = None
    return list(made)


def realistic_home(root: Path | str, count: int = 120, seed: int = 0, now_ns: int | None = None, *,
                   span_days: float = 42, archived_fraction: float = 0.15, compressed_fraction: float = 0.0,
                   min_size: int = 3 * KB, max_size: int = 60 * KB, large_bytes: int = 0,
                   modes: tuple[int, ...] = (0o600,), temps_every: int = 0) -> HomeManifest:
    """``count`` rollouts started over the last ``span_days`` (oldest archived more often), none compressed
    unless ``compressed_fraction`` (of the cold ones) says so; one of ``large_bytes`` with a multi-MB line
    when given; stale and fresh temps of each upstream naming every ``temps_every`` rollouts."""
    rng = random.Random(seed)
    now_ns = time.time_ns() if now_ns is None else now_ns
    now = datetime.fromtimestamp(now_ns / 1e9, timezone.utc)
    markers = unique_markers(rng, count)
    starts = sorted(now - timedelta(days=rng.uniform(0.05, span_days)) for _ in range(count))
    large_index = rng.randrange(count // 4 or 1) if large_bytes else -1  # an old one: it gets compressed
    rollouts, temps = [], []
    for i, start in enumerate(starts):
        start = start.replace(microsecond=start.microsecond // 1000 * 1000)
        ident = str(uuidlib.UUID(int=rng.getrandbits(128), version=4))
        target = large_bytes if i == large_index else int(min_size * (max_size / min_size) ** rng.random())
        def session_from(begin: datetime) -> tuple[Session, bytes]:
            made = Session(target, seed * 100_003 + i, ident, big_lines=False, start=begin, marker=markers[i],
                           big_line_at=target // 3 if i == large_index else None)
            return made, b"".join(made)

        session, data = session_from(start)
        if session.now > now - timedelta(minutes=5):  # it would end in the future: start it earlier
            start -= session.now - (now - timedelta(minutes=5))
            start = start.replace(microsecond=start.microsecond // 1000 * 1000)
            session, data = session_from(start)
        end = session.now.replace(microsecond=session.now.microsecond // 1000 * 1000)  # lines carry ms
        mtime_ns = int(end.timestamp()) * 10**9 + end.microsecond * 1000
        old = now_ns - mtime_ns >= 7 * DAY_NS
        age_days = (now - start).total_seconds() / 86400
        archived = rng.random() < archived_fraction * 2 * age_days / span_days
        compressed = old and rng.random() < compressed_fraction
        mode = rng.choice(modes)
        name = oracle.rollout_name(start.replace(tzinfo=None), ident)
        rel = oracle.archived_path(name) if archived else oracle.active_path(name)
        if compressed:
            oracle.write_zst(root, rel + ".zst", data, mode, mtime_ns)
        else:
            oracle.write_plain(root, rel, data, mode, mtime_ns)
        rollouts.append(RolloutTruth(rel, ident, archived, compressed, old, mode, mtime_ns,
                                     hashlib.sha256(data).hexdigest(), markers[i], iso(start), iso(session.now),
                                     session.model, session.cwd, session.lines, len(data), dict(session.tokens)))
        if temps_every and i % temps_every == temps_every // 2:
            temps += write_temps(root, rel, data, i, now_ns, stale_first=(i // temps_every) % 2 == 0)
    return HomeManifest(Path(root), tuple(rollouts), tuple(temps), now_ns)


def write_temps(root: Path | str, rel: str, data: bytes, n: int, now_ns: int, stale_first: bool = True,
                content: bytes | None = None) -> list[tuple[str, bool]]:
    """A temp of each upstream naming beside ``rel`` (half its bytes unless ``content``), stale and fresh."""
    made = []
    for k, suffix in enumerate((f".zst.compress.{4000 + n}.0.tmp", f".materialize.{4000 + n}.1.tmp", ".tmp")):
        stale = (k % 2 == 0) == stale_first  # every naming gets stale and fresh ones across a home
        t_ns = now_ns - 8 * DAY_NS if stale else now_ns
        oracle.write_plain(root, rel + suffix, content if content is not None else data[: len(data) // 2],
                           0o600, t_ns)
        made.append((rel + suffix, stale))
    return made


def demo_home(root: Path | str, count: int = 300, seed: int = 0, now_ns: int | None = None,
              compressed_fraction: float = 0.3) -> HomeManifest:
    """The ``demo-home`` mix: weeks of sessions, some archived, 30% of the cold ones already ``.zst``,
    a few read-only or group-readable files, and stale and fresh temps of every upstream naming."""
    return realistic_home(root, count, seed, now_ns, span_days=28, archived_fraction=0.2,
                          compressed_fraction=compressed_fraction, max_size=24 * KB,
                          modes=(0o600,) * 6 + (0o400, 0o644), temps_every=50)
