"""Codex releases against each other on one home: can a session release see, and keep writing to,
rollouts another release (or the reference) compresses?

Contract: :func:`run_pair` judges one ordered pair, the *session* release (``codex:A``: it lists,
reads, resumes and writes) and the *compressor* (``codex:B`` or a reference selection: it runs a
compression pass), with three real experiments on fresh homes: (a) visibility, the compressor
compresses a home of cold rollouts and the session release lists, reads and resumes each one;
(b) hold, the session release resumes a cold rollout and writes, the compressor runs a pass, the
session writes again, and the disk shows whether that line is kept; (c) optionally a seeded random
campaign of the race harness with the same two stores.  Each pair gets one verdict:
``loses writes`` (a line the session acknowledged is in no representation), ``cannot see`` (a
compressed rollout is missing from its list, or reading or resuming it fails), ``safe``,
``not applicable`` (the compressor has no compression pass) or ``inconclusive`` (an experiment
proved nothing, e.g. the held rollout was never cold when the pass ran).  A lost line in (b) leaves a
bundle (:mod:`race_harness.versions_bundle`) that :func:`replay_hold` reruns on a fresh home.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from conformance.api.errors import Inconclusive
from conformance.oracle import disk as oracle
from conformance.stores.codex import launch
from conformance.stores.codex.rpc import RpcError
from conformance.stores.selection import open_store

from race_harness.campaign import run_campaign
from race_harness.interop import campaign_config, pair_roles
from race_harness.judge import fresh_workdir
from race_harness.versions_bundle import check_stores, load_hold_bundle, slug, write_hold_bundle

SAFE, CANNOT_SEE, LOSES_WRITES = "safe", "cannot see", "loses writes"
NOT_APPLICABLE, INCONCLUSIVE = "not applicable", "inconclusive"
VERDICTS = (SAFE, CANNOT_SEE, LOSES_WRITES, NOT_APPLICABLE, INCONCLUSIVE)
WEEK = 7 * 86_400
_COLD_NS = 8 * 86_400 * 10**9  # past codex's fixed 7 days
_ACTIVE, _ARCHIVED = 4, 2
ARCHIVED = "not tried (archived)"
BEFORE_LINE, AFTER_LINE = "versions-before-the-pass", "versions-after-the-pass"  # the held session's two turns


@dataclass(frozen=True)
class Seen:
    """What the session release did with one rollout after the compressor's pass."""

    rollout: str  # logical path
    before: tuple[str, ...]  # representations after the pass, before the session release touched it
    listed: bool
    read: str  # "ok" or codex's error
    resume: str  # "ok", codex's error, or ARCHIVED (codex resumes no archived session: unarchive first)
    after: tuple[str, ...]  # representations once the session release had read and resumed it

    @property
    def visible(self) -> bool:
        return self.listed and self.read == "ok" and self.resume in ("ok", ARCHIVED)


@dataclass(frozen=True)
class Hold:
    """The hold-then-compress experiment: the pass's outcome on the held rollout and the line after it."""

    outcome: str  # the compressor's outcome for the held rollout
    kept: bool | None  # None: nothing could be told
    detail: str = ""
    rollout: str = ""  # the held rollout's logical path
    representations: tuple[str, ...] = ()  # its files once the session had written after the pass
    line_in: tuple[str, ...] = ()  # those of them that hold the line written after the pass


@dataclass(frozen=True)
class PairResult:
    session: str  # codex:A
    compressor: str  # codex:B or a reference selection
    verdict: str
    why: str
    seen: tuple[Seen, ...] = ()
    hold: Hold | None = None
    campaign: dict = field(default_factory=dict)  # {"status", "classes", "bundle", "notes"} when one ran
    bundle: str = ""  # the folder that replays the hold experiment's loss, when it lost the line


def run_pair(session: str, compressor: str, root: str, seconds: float = 0.0, seed: int = 0,
             bundle_dir: str | None = None, timeout: float = 180.0,
             progress: Callable[[str], None] | None = None) -> PairResult:
    """The three experiments of the pair and its verdict (see the module contract)."""
    say = progress or (lambda _line: None)
    if not _compresses(compressor):
        return PairResult(session, compressor, NOT_APPLICABLE, f"{compressor} has no compression pass "
                                                               "(no rollout/compress request)")
    folder = fresh_workdir(root, f"{slug(session)}--{slug(compressor)}")
    try:
        seen = visibility(session, compressor, os.path.join(folder, "visibility"), timeout)
        say(f"{session} sessions / {compressor} compressor: visibility: "
            f"{sum(s.visible for s in seen)} of {len(seen)} visible")
        hold = hold_then_compress(session, compressor, os.path.join(folder, "hold"), timeout)
    except Inconclusive as exc:  # a hang or crash of codex proves nothing about the pair
        say(f"{session} sessions / {compressor} compressor: inconclusive: {exc.args[0]}")
        return PairResult(session, compressor, INCONCLUSIVE, f"an experiment could not finish: {exc.args[0]}")
    say(f"{session} sessions / {compressor} compressor: hold: {hold.outcome}, "
        f"{'kept' if hold.kept else 'lost' if hold.kept is False else 'not told'}")
    bundle = ""
    if hold.kept is False and bundle_dir:
        bundle = write_hold_bundle(bundle_dir, session, compressor, hold, os.path.join(folder, "hold"), timeout,
                                   AFTER_LINE)
        say(f"{session} sessions / {compressor} compressor: the loss's bundle: {bundle}")
    campaign = {}
    if seconds > 0:
        verdict = run_campaign(pair_roles(session, compressor), campaign_config(seconds, seed), folder, bundle_dir)
        campaign = {"status": verdict.status, "classes": list(verdict.classes), "bundle": verdict.bundle or "",
                    "notes": list(verdict.notes)}
        say(f"{session} sessions / {compressor} compressor: campaign: {verdict.status} {list(verdict.classes)}")
    verdict, why = judge(seen, hold, campaign)
    return PairResult(session, compressor, verdict, why, seen, hold, campaign, bundle)


def replay_hold(bundle: str, home: str) -> tuple[dict, Hold]:
    """The bundle's data and its hold experiment rerun on the fresh ``home`` with the same pair and timeout;
    :class:`~race_harness.versions_bundle.BundleError` when the bundle or its releases are not usable here."""
    data = load_hold_bundle(bundle)
    check_stores(data)
    return data, hold_then_compress(data["session"], data["compressor"], home, float(data["timeout"]))


def judge(seen: tuple[Seen, ...], hold: Hold, campaign: dict) -> tuple[str, str]:
    """One verdict: a loss outranks blindness, which outranks an experiment that proved nothing."""
    hidden = [s for s in seen if not s.visible]
    if hold.kept is False or "lost_line" in campaign.get("classes", ()):
        where = "the held session's line after the pass" if hold.kept is False else "the campaign"
        also = f"; also {len(hidden)} of {len(seen)} rollouts not seen" if hidden else ""
        return LOSES_WRITES, f"an acknowledged line is in no representation ({where}){also}"
    if hidden:
        first = hidden[0]
        what = ("not listed" if not first.listed else f"read: {first.read}" if first.read != "ok"
                else f"resume: {first.resume}")
        return CANNOT_SEE, f"{len(hidden)} of {len(seen)} rollouts not seen ({first.rollout}: {what})"
    if hold.kept is None:
        return INCONCLUSIVE, f"hold-then-compress told nothing: {hold.detail or hold.outcome}"
    if campaign and campaign.get("status") == "inconclusive":
        return INCONCLUSIVE, "the campaign was inconclusive"
    return SAFE, f"all {len(seen)} rollouts seen; the held session's line was kept ({hold.outcome})"


def visibility(session: str, compressor: str, home: str, timeout: float) -> tuple[Seen, ...]:
    """(a): the compressor compresses a home of cold rollouts; the session release lists, reads, resumes."""
    os.makedirs(home)
    made = [_cold_rollout(home, n, archived=n >= _ACTIVE) for n in range(_ACTIVE + _ARCHIVED)]
    _compress_pass(compressor, home)
    before = {rel: oracle.representations(home, rel) for rel, _ in made}
    scratch = tempfile.mkdtemp(prefix="versions-scratch-")
    server = launch.start(_binary(session), home, scratch, timeout)
    try:
        listed = {item.get("id") for archived in (False, True)
                  for item in server.request("thread/list", {"archived": archived, "limit": 100}).get("data", ())}
        found = []
        for rel, ident in made:
            read = _answer(server, "thread/read", {"threadId": ident, "includeTurns": True})
            resume = ARCHIVED if rel.startswith("archived_sessions/") else _answer(
                server, "thread/resume", {"threadId": ident, "approvalPolicy": "never", "sandbox": "read-only"})
            found.append((rel, ident in listed, read, resume))
    finally:
        server.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return tuple(Seen(rel, before[rel], was_listed, read, resume, oracle.representations(home, rel))
                 for rel, was_listed, read, resume in found)


def hold_then_compress(session: str, compressor: str, home: str, timeout: float,
                       compressor_home: str | None = None) -> Hold:
    """(b): the session release holds a resumed cold rollout open and writes; a pass; it writes again.

    ``compressor_home`` is another path to the same home for the pass (a second mount: a compressor
    on another machine); by default the pass sees ``home`` as the session does."""
    os.makedirs(home, exist_ok=True)
    rel, _ident = _cold_rollout(home, 0, archived=False)
    writer = open_store(session)
    writer.timeout = timeout  # the codex store's bound on each request and on each acknowledged turn
    try:
        writer.configure(home, WEEK)
        handle = writer.open_writer(rel)
        writer.write(handle, BEFORE_LINE)
        _settle(os.path.join(home, rel), timeout)  # codex writes its own lines after a turn (the model call fails)
        _backdate(home, rel)  # resume and the write made it fresh; the session stays open
        outcomes = _compress_pass(compressor, compressor_home or home)
        writer.write(handle, AFTER_LINE)
        writer.close_writer(handle)
    finally:
        writer.close()
    outcome = outcomes.get(rel, "not reported")
    content = oracle.logical_content(home, rel) or b""
    kept = AFTER_LINE.encode() in content  # as a reader sees it: the plain file wins
    disk = dict(rollout=rel, representations=oracle.representations(home, rel), line_in=_holding(home, rel))
    if outcome in ("compressed", "skipped_busy"):
        return Hold(outcome, kept, **disk)
    return Hold(outcome, None, f"the pass neither compressed the held rollout nor found it busy ({outcome}): "
                               "codex wrote after it was back-dated, so the pass had nothing to race", **disk)


def _holding(home: str, rel: str) -> tuple[str, ...]:
    """The representations of ``rel`` whose content (a ``.zst`` decoded as far as it goes) has the line."""
    return tuple(name for name in oracle.representations(home, rel)
                 if AFTER_LINE.encode() in oracle.readable_bytes(os.path.join(home, name)))


def _compress_pass(compressor: str, home: str) -> dict[str, str]:
    """One whole-home pass of ``compressor`` (codex's fixed 7 days, or the reference told the same)."""
    store = open_store(compressor)
    try:
        store.configure(home, WEEK)
        report = store.run_worker()
    finally:
        store.close()
    return dict(report.outcomes)


def _compresses(selection: str) -> bool:
    store = open_store(selection)
    try:
        return "compressor" in store.hello().capabilities
    finally:
        store.close()


def _binary(selection: str) -> str:
    store = open_store(selection)
    try:
        return store.facts.binary
    finally:
        store.close()


def _answer(server, method: str, params) -> str:
    try:
        server.request(method, params)
    except RpcError as exc:
        return f"{exc.code} {exc.message}"
    return "ok"


def _cold_rollout(home: str, n: int, archived: bool) -> tuple[str, str]:
    """A two-message rollout, 8 days old; (logical path, id)."""
    ident = str(uuid.uuid4())
    name = oracle.rollout_name(datetime(2025, 1, 3 + n, 12, 0, 0), ident)
    rel = oracle.archived_path(name) if archived else oracle.active_path(name)
    data = oracle.session_meta_line(ident) + oracle.user_message_line(f"versions {n}")
    oracle.write_plain(home, rel, data, 0o600, time.time_ns() - _COLD_NS)
    return rel, ident


def _settle(path: str, timeout: float, quiet: float = 1.0) -> None:
    """Wait (at most ``timeout``) until ``path`` has not grown for ``quiet`` seconds."""
    deadline, last, since = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < deadline:
        size = os.stat(path).st_size
        if size != last:
            last, since = size, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.1)


def _backdate(home: str, rel: str) -> None:
    then = time.time_ns() - _COLD_NS
    os.utime(os.path.join(home, rel), ns=(then, then))
