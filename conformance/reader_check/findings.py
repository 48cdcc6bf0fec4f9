"""From per-case differences to findings: one finding per root cause, not one per case or session.

A symptom seen in the ordinary ``cold-zst`` case explains the same symptom in every other case that
leaves rollouts as a lone ``.zst`` (multi-frame, skippable, read-only, archived, large): those fold
into it and the finding carries only the ordinary case's requirement ids.  Crashes group by their
exception line, exit-code changes by the pair of codes.  A crash or an exit change explains the
lost output of its own run, and lost sessions explain the numbers that changed with them (in a
listing's totals or in a lookup of one session).  Every finding names the stream it was read on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from conformance.reader_check.cases import CASES, Case
from conformance.reader_check.facts import Change
from conformance.reader_check.runner import Run

ORDINARY = "cold-zst"
_CASE = {case.name: case for case in CASES}


@dataclass(frozen=True)
class Observation:
    """One command's before/after in one case (for a lookup: for one rollout)."""

    command: str
    case: str
    before: Run
    after: Run
    change: Change
    seen_before: int  # sessions the output named or quoted over the plain home
    touched: int  # rollouts the case changed
    rollout: str = ""  # lookups only: the rollout id looked up
    lookup_lost: bool = False  # lookups only: what the plain lookup showed is gone


@dataclass(frozen=True)
class Finding:
    """One root cause: what happened, the SPEC.md ids it breaks, where, and a few examples."""

    title: str
    requirements: tuple[str, ...]
    cases: tuple[str, ...]
    examples: tuple[str, ...] = ()
    detail: str = ""


@dataclass
class _Group:
    kind: str
    headline: Observation
    requirements: tuple[str, ...]
    members: list[Observation] = field(default_factory=list)
    lookups: list[Observation] = field(default_factory=list)  # failed lookups this cause explains
    totals: list[Observation] = field(default_factory=list)  # changed numbers of other commands it explains


def _symptoms(obs: Observation) -> list[str]:
    """The kinds of damage one observation shows, the explaining ones only."""
    after, before = obs.after, obs.before
    if after.timed_out:
        return []  # inconclusive, reported apart
    if after.crash and not before.crash:
        return ["crash"]
    if obs.rollout:
        if obs.lookup_lost or after.exit_code != before.exit_code:
            return ["lookup"]
        return ["lookup_numbers"] if obs.change.numbers_lost or obs.change.numbers_gained else []
    if after.exit_code != before.exit_code:
        return ["exit"]
    kinds = [k for k in ("disappeared", "lost_content", "duplicated") if getattr(obs.change, k)]
    if not kinds and (obs.change.numbers_lost or obs.change.numbers_gained):
        kinds = ["numbers"]
    return kinds


def _key(kind: str, obs: Observation, family: str) -> tuple:
    if kind == "crash":  # the same exception from any command or case is one cause
        return (kind, _normalize(obs.after.crash.splitlines()[-1]))
    if kind == "exit":
        return (kind, obs.command, obs.before.exit_code, obs.after.exit_code, family)
    return (kind, obs.command, family)


def _normalize(line: str) -> str:
    # Same exception, different file or offset: one cause.
    return re.sub(r"\d+", "N", re.sub(r"(/[^\s'\"]+)+", "PATH", line))


def _requirements(kind: str, case: Case, obs: Observation) -> tuple[str, ...]:
    if kind == "crash" and obs.rollout and "{path}" in obs.command:
        return ("ERR-001", "NAME-001", "READ-002")  # handed the .jsonl.zst path itself
    if kind == "crash":
        return ("ERR-001",) + case.requirements
    if kind == "duplicated":
        return case.duplicate_requirements
    if kind == "lookup":
        return ("DISC-005",) + case.requirements
    return case.requirements  # lookup_numbers: the session is found, its content is not all read


def group(observations: list[Observation]) -> list[Finding]:
    """Fold observations into findings, one per root cause, most widespread first."""
    ordinary = {(o.command, k) for o in observations if o.case == ORDINARY for k in _symptoms(o)}
    groups: dict[tuple, _Group] = {}
    for obs in observations:
        for kind in _symptoms(obs):
            folds = _CASE[obs.case].zst_only and (obs.command, kind) in ordinary
            key = _key(kind, obs, ORDINARY if folds else obs.case)
            if key not in groups:
                groups[key] = _Group(kind, obs, _requirements(kind, _CASE[obs.case], obs))
            if obs.case == ORDINARY and groups[key].headline.case != ORDINARY:
                groups[key].headline = obs
                groups[key].requirements = _requirements(kind, _CASE[ORDINARY], obs)
            groups[key].members.append(obs)
    _fold_consequences(groups)
    findings = [_finding(g) for g in groups.values()]
    return sorted(findings, key=lambda f: -len(f.cases))


def _fold_consequences(groups: dict[tuple, _Group]) -> None:
    """Failed lookups and changed totals where a listing lost the same sessions are that listing's cause."""
    for key in [k for k in groups if k[0] in ("lookup", "lookup_numbers", "numbers")]:
        target = next((g for k, g in groups.items() if k[0] in ("disappeared", "lost_content", "duplicated")
                       and k[-1] == key[-1]), None)
        if target is not None:
            folded = groups.pop(key)
            if key[0] == "lookup":
                target.lookups += folded.members
                target.requirements = tuple(dict.fromkeys(target.requirements + ("DISC-005",)))
            elif key[0] == "lookup_numbers":
                target.lookups += folded.members
            else:
                target.totals.append(folded.headline)


def _cases(members: list[Observation]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(m.case for m in members))


def _finding(g: _Group) -> Finding:
    h, cases = g.headline, _cases(g.members + g.lookups)
    where = "once compressed" if h.case == ORDINARY else f"in case {h.case}"
    per_case = ", ".join(f"{c}: {_count(g.kind, [m for m in g.members if m.case == c])}"
                         for c in _cases(g.members))
    commands = ", ".join(f"`{c}`" for c in dict.fromkeys(m.command for m in g.members))
    if g.kind == "crash":
        title = f"crashes {where}: {h.after.crash.splitlines()[-1]}"
        return Finding(title, g.requirements, cases, _runs(g.members), f"commands: {commands}\n{h.after.crash}")
    if g.kind == "exit":
        title = f"exit code {h.before.exit_code} -> {h.after.exit_code} {where} ({commands})"
        return Finding(title, g.requirements, cases, _runs(g.members), _tail(h.after.stderr))
    if g.kind == "lookup":
        title = f"{len(g.members)} lookups {where} lose what they showed before ({commands}; {_codes(g.members)})"
        return Finding(title, g.requirements, cases, tuple(f"{m.case}: {m.rollout}" for m in g.members[:3]),
                       f"per case: {per_case}\n" + _tail(h.after.stderr or h.after.stdout, 2))
    if g.kind == "lookup_numbers":
        title = (f"{len(g.members)} lookups of one session {where} print different numbers ({commands}, "
                 f"{_streams(h.change.number_streams)}; {_codes(g.members)}): {_largest(h)}")
        return Finding(title, g.requirements, cases, tuple(f"{m.case}: {m.rollout}" for m in g.members[:3]),
                       f"per case: {per_case}\n" + "\n".join(h.change.lines))
    ids = getattr(h.change, g.kind, ())
    what = {"disappeared": "disappear", "lost_content": "are still listed but lose their content",
            "duplicated": "show up more than once"}
    if g.kind == "numbers":
        title = f"the numbers printed change {where} ({commands}, {_streams(h.change.number_streams)}): {_largest(h)}"
        examples = h.change.lines or (f"gone: {' '.join(h.change.numbers_lost[:8])}",
                                      f"new: {' '.join(h.change.numbers_gained[:8])}")
    else:
        title = (f"{len(ids)} of {h.seen_before} sessions {what[g.kind]} {where} ({commands}, "
                 f"{_streams(h.change.session_streams)})")
        examples = tuple(ids[:3])
    detail = f"per case: {per_case}"
    if g.lookups:
        lookup_commands = ", ".join(f"`{c}`" for c in dict.fromkeys(m.command for m in g.lookups))
        detail += (f"\nlooking them up fails too: {len(g.lookups)} lookups with {lookup_commands} lose what "
                   f"they showed before or print different numbers ({_codes(g.lookups)})")
    for obs in g.totals:
        detail += f"\nthe numbers `{obs.command}` prints change too: {_largest(obs)}"
    return Finding(title, g.requirements, cases, examples, detail)


def _largest(obs: Observation) -> str:
    before, after = (n.rpartition(":")[2] for n in obs.change.largest)
    return f"largest number printed {before} before, {after} after"


def _streams(streams: tuple[str, ...]) -> str:
    return "read on " + " and ".join(streams) if streams else "read on stdout and stderr"


def _codes(members: list[Observation]) -> str:
    return "exit " + ", ".join(f"{b} -> {a}" for b, a in sorted({(m.before.exit_code, m.after.exit_code)
                                                                   for m in members}))


def _count(kind: str, members: list[Observation]) -> str:
    if kind in ("disappeared", "lost_content", "duplicated"):
        return f"{len(getattr(members[0].change, kind))} of {members[0].seen_before}"
    if kind in ("lookup", "lookup_numbers"):
        return f"{len(members)} lookups"
    return f"{len(members)} run(s)"


def _runs(members: list[Observation]) -> tuple[str, ...]:
    return tuple(f"{m.case}: {' '.join(m.after.argv)} -> exit {m.after.exit_code}" for m in members[:3])


def _tail(text: str, lines: int = 4) -> str:
    return "\n".join([line for line in text.splitlines() if line.strip()][-lines:])
