"""``timeline.html``: a repro bundle drawn as one lane per process, one bar per operation.

Contract: :func:`build` turns a bundle folder (meta, schedule, history, verdict) into the page's data:
lanes (store, role, pid, host), operations from invoke to ok / fail / info, failpoint holds, delays,
crashes and injected errors, kills, the violations with their witness operations, the verdict and
the rerun command, and the window to show first (around the violation);
:func:`write_timeline` writes the self-contained page (inline CSS, JS and SVG, no network) next to
them and returns its path.
"""

from __future__ import annotations

import json
import math
import os
import re
from importlib.resources import files

from race_harness.history import INFO, Operation, operations, read_events

PAGE = "timeline.html"
#: Quick ``continue`` answers are only ticks; past this many, only those nearest the focus are kept.
PLAIN_HIT_LIMIT = 4000
#: An answer later than this after the hit was a hold (or a widening delay) worth a band.
HELD_AFTER_S = 0.0005
#: The default view around the violation spans its witness ops plus at least this much either side.
FOCUS_MARGIN_S = 0.02
#: A quoted operation longer than this is not pulled whole into the default view.
RELATED_SPAN_LIMIT_S = 1.0
_STATUS = {"ok": 0, "fail": 1, "info": 2}


def write_timeline(folder: str) -> str:
    """Write ``<folder>/timeline.html`` from the bundle's files; return its path."""
    page = render(build(folder))
    path = os.path.join(folder, PAGE)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(page)
    return path


def render(data: dict) -> str:
    """The page for ``data`` (as :func:`build` returns it): the template with the data inlined."""
    template = files("race_harness").joinpath("timeline_template.html").read_text(encoding="utf-8")
    # "</" would end the inline <script>; JSON allows "<\/" for the same characters.
    blob = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    title = f"race timeline: {data['name']} ({data['status']})"
    return template.replace("__TITLE__", _escape(title)).replace("__DATA__", blob)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def build(folder: str) -> dict:
    """Everything the page shows, with times in seconds since the run's first recorded moment."""
    meta, schedule, verdict = _load(folder)
    ops = operations(read_events(os.path.join(folder, "history.jsonl")))
    decisions = schedule.get("decisions", [])
    kills = schedule.get("kills", [])
    starts = [op.start for op in ops] + [d["hit_time"] for d in decisions if d.get("hit_time")] + \
             [k["time"] for k in kills]
    ends = [op.end for op in ops if op.end != math.inf] + [d["time"] + d.get("delay", 0.0) for d in decisions
                                                            if d.get("time")] + [k["time"] for k in kills]
    origin = min(starts, default=0.0)
    last = max(ends + starts, default=origin)
    lanes = _lanes(meta, ops, decisions, kills)
    index = {lane["name"]: number for number, lane in enumerate(lanes)}
    rollouts = sorted({op.rollout for op in ops if op.rollout})
    by_ref = {f"{op.proc}#{op.seq}": op for op in ops}
    violations = [_violation(v) for v in verdict.get("violations", [])]
    for v in violations:
        v["window"] = _window(v, by_ref, origin, last)
    # the first view: the violation whose primary witness happened first
    first = min((v for v in violations if v["window"]), default=None,
                key=lambda v: min(by_ref[r].start for r in v["primary"] if r in by_ref))
    focus = first["window"] if first else [0.0, _rel(last, origin)]
    marks, dropped = _marks(decisions, index, origin, focus)
    # when each process died: a SIGKILL, or the crash it was answered at a failpoint
    deaths: dict[str, list[float]] = {}
    for at, actor in [(k["time"], k["actor"]) for k in kills] + [(d["time"], d["actor"]) for d in decisions
                                                                  if d["action"] == "crash" and d.get("time")]:
        deaths.setdefault(actor, []).append(at)
    return {
        "name": meta.get("name", os.path.basename(folder)),
        "kind": meta.get("kind", ""),
        "status": meta.get("status", verdict.get("status", "")),
        "classes": meta.get("classes", []),
        "selection": meta.get("selection", ""),
        "store": meta.get("store", ""),
        "seed": meta.get("seed"),
        "versions": meta.get("versions", {}),
        "command": meta.get("command", ""),
        "replay": meta.get("replay", ""),
        "bundle": os.path.abspath(folder),
        "notes": schedule.get("notes", []) + _plan_notes(schedule),
        "violations": violations,
        "duration": last - origin,
        "focus": focus,
        "lanes": lanes,
        "rollouts": rollouts,
        "ops": [_op(op, index, rollouts, origin, _death(op, deaths, last)) for op in ops],
        "marks": marks,
        "marks_dropped": dropped,
        "kills": [[index[k["actor"]], _rel(k["time"], origin), k.get("pid", 0), k.get("why", "")] for k in kills
                  if k["actor"] in index],
    }


def _load(folder: str) -> tuple[dict, dict, dict]:
    with open(os.path.join(folder, "meta.json")) as handle:
        meta = json.load(handle)
    with open(os.path.join(folder, "schedule.json")) as handle:
        schedule = json.load(handle)
    verdict: dict = {}
    try:
        with open(os.path.join(folder, "verdict.json")) as handle:
            verdict = json.load(handle)
    except FileNotFoundError:
        # a bundle from before verdict.json: its verdict in words still heads the page
        with open(os.path.join(folder, "verdict.txt")) as handle:
            schedule = dict(schedule, notes=[handle.read().split("\n\nrerun:")[0]] + schedule.get("notes", []))
    return meta, schedule, verdict


def _plan_notes(schedule: dict) -> list[str]:
    """The planned parts of a schedule in words: an exploration's interleaving, a campaign's kill plan."""
    notes = []
    if schedule.get("interleaving"):
        notes.append("interleaving (release order at failpoints): " + " ".join(schedule["interleaving"]))
    if schedule.get("kill_plan"):
        notes.append("kill plan: " + ", ".join(f"{role} at {at:.2f}s" for at, role in schedule["kill_plan"]))
    return notes


def _lanes(meta: dict, ops: list[Operation], decisions: list[dict], kills: list[dict]) -> list[dict]:
    """One lane per process, in the order each first did something."""
    first: dict[str, float] = {}
    for name, at in [(op.proc, op.start) for op in ops] + [(d["actor"], d.get("hit_time", 0.0)) for d in decisions] \
            + [(k["actor"], k["time"]) for k in kills]:
        first[name] = min(first.get(name, math.inf), at)
    actors = meta.get("actors", {})
    hosts = {op.proc: op.host for op in ops if op.host}  # the history says it too (an actor's every event)
    lanes = []
    for name in sorted(first, key=lambda n: (first[n], n)):
        info = actors.get(name, {})
        store_pids = sorted({d["pid"] for d in decisions if d["actor"] == name and d.get("pid")} - {info.get("pid")})
        lanes.append({"name": name, "role": re.sub(r"[-.]\d+(\.\d+)?$", "", name),
                      "store": info.get("store", meta.get("store", "")), "pid": info.get("pid", 0),
                      "store_pids": store_pids, "host": info.get("host") or hosts.get(name, "")})
    return lanes


def _violation(row: dict) -> dict:
    refs = row.get("refs", [])
    # the operations the witness sentence names (e.g. "acknowledged by writer#3") are its primary ones
    named = [ref for ref in refs if re.search(rf"(?<![\w.-]){re.escape(ref)}(?!\d)", row.get("witness", ""))]
    return {"class": row.get("class", ""), "requirement": row.get("requirement", ""), "rollout": row.get("rollout", ""),
            "witness": row.get("witness", ""), "operations": row.get("operations", []), "refs": refs,
            "primary": named or refs[:1]}


def _rel(at: float, origin: float) -> float:
    return round(at - origin, 6)


def _death(op: Operation, deaths: dict[str, list[float]], last: float) -> float:
    """Where an operation's bar ends: its completion, else its process's death, else the run's end."""
    if op.end != math.inf:
        return op.end
    return min((at for at in deaths.get(op.proc, ()) if at >= op.start), default=last)


def _op(op: Operation, index: dict[str, int], rollouts: list[str], origin: float, end: float) -> list:
    """[lane, seq, op, start, end, status, rollout index, rids, outcome, open]; open: never completed."""
    rids = ",".join(op.rids[:3]) + (f",... ({len(op.rids)})" if len(op.rids) > 3 else "")
    outcome = op.error or ("" if op.value in (None, "", {}) else _short(op.value))
    return [index[op.proc], op.seq, op.op, _rel(op.start, origin), _rel(end, origin),
            _STATUS.get(op.status, _STATUS[INFO]), rollouts.index(op.rollout) if op.rollout else -1, rids, outcome,
            int(op.end == math.inf)]


def _short(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 160 else text[:157] + "..."


def _window(violation: dict, by_ref: dict[str, Operation], origin: float, last: float) -> list[float] | None:
    """[from, to] around a violation: its primary witness ops and the quoted ops near them, padded."""
    primary = [by_ref[r] for r in violation["primary"] if r in by_ref]
    if not primary:
        return None
    low = min(op.start for op in primary)
    high = max(min(op.end, last) for op in primary)
    margin = max(FOCUS_MARGIN_S, 2 * (high - low))
    for op in (by_ref[r] for r in violation["refs"] if r in by_ref):
        end = min(op.end, last)
        # a quoted op running at the same time (the compress the write raced) belongs in view,
        # unless it is so long that the witness would shrink to a sliver
        if op.start <= high + margin and end >= low - margin and end - op.start <= RELATED_SPAN_LIMIT_S:
            low, high = min(low, op.start), max(high, end)
    pad = max((high - low) * 0.15, 0.0005)
    return [max(0.0, _rel(low - pad, origin)), min(_rel(last, origin), _rel(high + pad, origin))]


def _marks(decisions: list[dict], index: dict[str, int], origin: float, focus: list[float]) -> tuple[list, int]:
    """[lane, hit, answered, point, action, errno, note, held] per failpoint answer drawn; how many not."""
    rows = []
    for d in decisions:
        if d["actor"] not in index or not d.get("hit_time"):
            continue  # a bundle from before decisions carried their times
        answered = d["time"] + d.get("delay", 0.0)
        held = answered - d["hit_time"] > HELD_AFTER_S or bool(d.get("note"))
        rows.append([index[d["actor"]], _rel(d["hit_time"], origin), _rel(answered, origin), d["point"], d["action"],
                     d.get("errno") or "", d.get("note", ""), held])
    plain = [r for r in rows if r[4] == "continue" and not r[7]]
    if len(plain) <= PLAIN_HIT_LIMIT:
        return rows, 0
    centre = (focus[0] + focus[1]) / 2
    keep = {id(r) for r in sorted(plain, key=lambda r: abs(r[1] - centre))[:PLAIN_HIT_LIMIT]}
    return [r for r in rows if r[4] != "continue" or r[7] or id(r) in keep], len(plain) - PLAIN_HIT_LIMIT
