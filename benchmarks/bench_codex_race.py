"""(11) The race harness against the real codex 0.171.0: time to detection of lost lines, operation rate.

Contract: :func:`run` returns the measurements (or ``{"skipped": reason}`` when codex is not
installed); :func:`goals` and :func:`section` turn them into the report's goals and its section.

Time to detection: ``race_harness.campaign.time_to_detection`` (seconds from a random campaign's
start to the earliest witness operation of its first violation, lost lines included) over several
seeds, for both directions of the loss docs/codex-0.171.0.md reports:
``reference:inode-flock`` writers next to codex's compression pass, and codex sessions next to the
``reference:inode-flock`` compressor (readers: the writer store, as ``race --writer-store X
--compressor-store Y`` does).  Goal: median under 30 s.

Operation rate: one campaign (seed 1, default shape) per pairing, with codex as the writer store,
as the compressor store, and neither (the reference in process), readers always the reference:
operations acknowledged per second of the campaign's bound, so the three are side by side.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time

from benchmarks.timing import Settings

FLOCK = "reference:inode-flock"
DIRECTIONS = ((FLOCK, "codex"), ("codex", FLOCK))
RATE_PAIRS = (("reference", "reference"), ("codex", "reference"), ("reference", "codex"))
TTD_GOAL_S = 30.0
#: mode -> (seeds per direction, campaign bound s, rate campaign s); codex sessions are slow to start
_SIZES = {"full": (5, 30.0, 20.0), "quick": (3, 20.0, 10.0)}


def _roles(writer: str, compressor: str, reader: str | None = None):
    from race_harness.roles import Roles

    return Roles(writer=writer, compressor=compressor, reader=reader or writer)


def _ttd(writer: str, compressor: str, seeds: int, bound: float, log) -> dict:
    from race_harness.campaign import time_to_detection

    rows = []
    for seed in range(seeds):
        started = time.perf_counter()
        seconds = time_to_detection(_roles(writer, compressor), seed, bound)
        rows.append({"seed": seed, "found": seconds is not None, "seconds": seconds,
                     "wall_s": time.perf_counter() - started})
        log(f"codex ttd writer={writer} compressor={compressor} seed {seed}: {seconds} s")
    found = [r["seconds"] for r in rows if r["found"]]
    return {"writer": writer, "compressor": compressor, "bound_s": bound, "seeds": rows, "found": len(found),
            "median_s": statistics.median(found) if found else None, "max_s": max(found) if found else None}


def _rate(writer: str, compressor: str, seconds: float, log) -> dict:
    from race_harness.campaign import CampaignConfig, run_campaign

    root = tempfile.mkdtemp(prefix="codex-race-rate-")
    try:
        verdict = run_campaign(_roles(writer, compressor, "reference"), CampaignConfig(seconds=seconds, seed=1), root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ok = {op: counts.get("ok", 0) for op, counts in (verdict.stats.get("operations") or {}).items()}
    writes = ok.get("append", 0) + ok.get("write", 0)
    row = {"writer": writer, "compressor": compressor, "seconds": seconds, "status": verdict.status,
           "ops_per_s": sum(ok.values()) / seconds, "writes_per_s": writes / seconds,
           "passes_per_s": (ok.get("compress", 0) + ok.get("run_worker", 0)) / seconds, "operations_ok": ok}
    log(f"codex rate writer={writer} compressor={compressor}: {row['ops_per_s']:.0f} ops/s, "
        f"{row['writes_per_s']:.1f} writes/s ({verdict.status})")
    return row


def run(settings: Settings, work, log) -> dict:
    """Both directions' time to detection and the three pairings' rates (``work`` is unused: temp folders)."""
    from conformance.stores.codex.install import missing_reason

    missing = missing_reason()
    if missing:
        return {"skipped": f"codex not installed ({missing}); run `rollout-conformance codex install`"}
    seeds, bound, rate_s = _SIZES.get(settings.name, _SIZES["quick"])
    load_before = os.getloadavg()
    ttd = [_ttd(writer, compressor, seeds, bound, log) for writer, compressor in DIRECTIONS]
    rates = [_rate(writer, compressor, rate_s, log) for writer, compressor in RATE_PAIRS]
    return {"ttd": ttd, "rates": rates, "loadavg_before": load_before, "loadavg_after": os.getloadavg()}


def goals(result: dict, goal) -> None:
    """One goal per direction: median time to detection under 30 s, every seed found."""
    for writer, compressor in DIRECTIONS:
        text = (f"random campaign finds lost lines with writer `{writer}`, compressor `{compressor}` (median time "
                f"to detection < {TTD_GOAL_S:g} s)")
        gid = "codex-ttd-" + ("codex-writer" if writer == "codex" else "codex-compressor")
        if result.get("skipped"):
            goal(gid, text, TTD_GOAL_S, None, None, f"not measured ({result['skipped']})")
            continue
        row = next(r for r in result["ttd"] if (r["writer"], r["compressor"]) == (writer, compressor))
        n, found = len(row["seeds"]), row["found"]
        if found < n:
            status = f"missed by {n - found} of {n} seeds"
        elif row["median_s"] < TTD_GOAL_S:
            status = "met"
        else:
            status = f"missed by {row['median_s'] - TTD_GOAL_S:.1f} s"
        goal(gid, text, TTD_GOAL_S, row["median_s"],
             f"median {row['median_s']:.2f} s, max {row['max_s']:.2f} s, found {found}/{n} seeds" if found
             else f"found 0/{n} seeds", status,
             f"`race_harness.campaign.time_to_detection`, campaigns bounded at {row['bound_s']:g} s, seeds 0..{n - 1}")


def section(result: dict | None) -> list[str]:
    """The report's markdown section for this group (nothing when the group did not run)."""
    if result is None:
        return []
    lines = ["", "## (11) Race harness vs codex 0.171.0: time to detection and operation rate", ""]
    if result.get("skipped"):
        return lines + [f"Skipped: {result['skipped']}."]
    lines += [f"Load average {result['loadavg_before'][0]:.1f} before, {result['loadavg_after'][0]:.1f} after "
              "(2 CPUs shared).", "",
              "| writer | compressor | seed | found | time to detection s | wall s |", "|---|---|---|---|---|---|"]
    for row in result["ttd"]:
        for r in row["seeds"]:
            secs = f"{r['seconds']:.2f}" if r["found"] else "-"
            lines.append(f"| `{row['writer']}` | `{row['compressor']}` | {r['seed']} | {'yes' if r['found'] else 'no'} "
                         f"| {secs} | {r['wall_s']:.1f} |")
    lines += ["", "Operation rate (one campaign per pairing, seed 1, default shape; acknowledged operations per "
              "second of the bound; readers: the reference in process):", "",
              "| writer | compressor | seconds | ops/s | writes/s | compress + worker runs/s | verdict |",
              "|---|---|---|---|---|---|---|"]
    for r in result["rates"]:
        lines.append(f"| `{r['writer']}` | `{r['compressor']}` | {r['seconds']:.0f} | {r['ops_per_s']:.0f} | "
                     f"{r['writes_per_s']:.1f} | {r['passes_per_s']:.1f} | {r['status']} |")
    return lines
