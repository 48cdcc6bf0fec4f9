"""(12) Soak throughput: seeds per hour with 1 and 2 local workers, and with a socket gateway.

``python -m conformance.cli soak --store reference --kind K --seeds N -n W`` in a subprocess, timed
wall clock (start-up, worker start, every seed, the merged report), for each kind of seed: random
race campaigns (``--seconds 2``) and state-machine runs (the ``ci`` profile).  The worker
arrangements run back to back, round after round, so each round's arrangements meet about the same
machine load; the number is the ratio of 2 workers' seeds per hour to 1 worker's, per round and its
median over rounds, reported without a target: on 2 CPUs shared with other work it is a measurement,
not a promise (campaigns mostly wait on their time bound; state-machine seeds need CPU).  Where a
socket gateway can be started (conformance/runtime/socket_gateway.py: an execnet server in its own
network and mount namespaces, standing for a second machine), 1 local worker plus that gateway runs
as a third arrangement; it is this machine's CPUs again, so it shows the gateway's cost, not a
second machine's capacity.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.timing import Settings

ROOT = Path(__file__).resolve().parent.parent
NO_TARGET = "measured (no target)"
#: Per settings name: (seeds per soak, rounds); smoke mode skips the group.
SIZES = {"full": (10, 3), "quick": (4, 1)}
CAMPAIGN_SECONDS = 2.0
#: State-machine seeds under the ``ci`` profile (~2 CPU-s each): under ``smoke`` a seed takes less time
#: than starting a worker, so the figure would measure xdist start-up.
MACHINE_PROFILE = "ci"
KINDS = ("campaign", "machine")


def _soak(kind: str, seeds: int, workers: int, tx: list[str], work: Path, label: str) -> dict:
    folder = work / f"soak-{kind}-{label}-{time.monotonic_ns()}"
    folder.mkdir(parents=True)
    report = folder / "report.json"
    argv = [sys.executable, "-m", "conformance.cli", "soak", "--store", "reference", "--kind", kind, "--seeds",
            str(seeds), "--seconds", str(CAMPAIGN_SECONDS), "--profile", MACHINE_PROFILE, "-n", str(workers),
            "--bundle-dir", str(folder / "bundles"), "--report", str(report), *(f"--tx={spec}" for spec in tx)]
    load = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - start
    merged = json.loads(report.read_text()) if report.exists() else {}
    run = merged.get("seeds_run", 0)
    return {"wall_s": wall, "loadavg_before": load, "seeds_run": run, "seeds_per_hour": run * 3600 / wall,
            "returncode": done.returncode,
            "status": merged.get("status", "no report"), "counts": merged.get("counts", {}),
            "workers": sorted({row["worker"]["id"] for row in merged.get("seeds", [])}),
            "stderr_tail": done.stderr[-400:] if not report.exists() else ""}


@contextlib.contextmanager
def _gateway(work: Path):
    """The socket gateway's spec, or (None, why) when this machine cannot start one."""
    from conformance.runtime.socket_gateway import GatewayUnavailable, socket_gateway

    try:
        with socket_gateway(str(work / "far-machine")) as spec:
            yield spec, ""
    except GatewayUnavailable as exc:
        yield None, str(exc)


def run(settings: Settings, work: Path, log) -> dict:
    if settings.name not in SIZES:
        why = f"{settings.name} mode: a soak per arrangement takes tens of seconds, more than this mode's budget"
        log(f"soak: skipped ({why})")
        return {"skipped": why}
    seeds, rounds = SIZES[settings.name]
    out: dict = {"seeds": seeds, "rounds": rounds, "campaign_seconds": CAMPAIGN_SECONDS,
                 "loadavg_before": os.getloadavg(), "kinds": {}}
    with _gateway(work) as (spec, why):
        arrangements = {"1 worker": (1, []), "2 workers": (2, [])}
        if spec:
            arrangements["1 worker + socket gateway"] = (1, [spec])
        else:
            out["gateway_skipped"] = why
        for kind in KINDS:
            runs: dict[str, list[dict]] = {label: [] for label in arrangements}
            for _ in range(rounds):
                for label, (workers, tx) in arrangements.items():
                    row = _soak(kind, seeds, workers, tx, work, label.replace(" ", "-"))
                    runs[label].append(row)
                    log(f"soak {kind} {label}: {row['seeds_run']} seeds in {row['wall_s']:.1f} s "
                        f"({row['seeds_per_hour']:.0f}/hour, {row['status']})")
            rates = {label: statistics.median(r["seeds_per_hour"] for r in rows) for label, rows in runs.items()}
            # each round's two arrangements ran back to back, under about the same load: their ratio is the
            # side-by-side measurement, and the median over rounds the figure
            ratios = [two["seeds_per_hour"] / one["seeds_per_hour"]
                      for one, two in zip(runs["1 worker"], runs["2 workers"]) if one["seeds_per_hour"]]
            out["kinds"][kind] = {"runs": runs, "seeds_per_hour": rates, "round_ratios": ratios,
                                  "ratio_2_vs_1": statistics.median(ratios) if ratios else None}
    out["loadavg_after"] = os.getloadavg()
    return out


def goals(result: dict, goal) -> None:
    """The ratio per kind of seed, 2 local workers' seeds per hour over 1's (measured, no target)."""
    for kind in KINDS:
        gid, text = f"soak-{kind}", f"soak of {kind} seeds: seeds per hour with 2 local workers / with 1"
        if result.get("skipped"):
            goal(gid, text, "-", None, None, f"not measured ({result['skipped']})", f"skipped: {result['skipped']}")
            continue
        row = result["kinds"][kind]
        rates, ratio = row["seeds_per_hour"], row["ratio_2_vs_1"]
        gateway = rates.get("1 worker + socket gateway")
        goal(gid, text, "-", ratio, f"{ratio:.2f}x ({rates['2 workers']:.0f} vs {rates['1 worker']:.0f} seeds/hour)"
             if ratio else None, NO_TARGET if ratio else "not measured (no seed ran)",
             f"`soak --store reference --kind {kind} --seeds {result['seeds']}`, median of the ratios of "
             f"{result['rounds']} round(s) ({', '.join(f'{r:.2f}' for r in row['round_ratios'])}), wall clock of the "
             "whole command; 2 CPUs shared by every process"
             + (f"; 1 worker + socket gateway: {gateway:.0f} seeds/hour" if gateway else ""))


def section(result: dict | None) -> list[str]:
    """The report's markdown section for this group (nothing when the group did not run)."""
    if result is None:
        return []
    lines = ["", "## (12) Soak: seeds per hour over workers", ""]
    if result.get("skipped"):
        return lines + [f"Skipped: {result['skipped']}."]
    lines += [f"`python -m conformance.cli soak --store reference --seeds {result['seeds']} -n W [--tx SPEC]`; "
              f"campaigns of {result['campaign_seconds']:g} s, state-machine runs under the `{MACHINE_PROFILE}` "
              "profile; "
              f"{result['rounds']} round(s), the arrangements back to back in each; load average "
              f"{result['loadavg_before'][0]:.1f} before, {result['loadavg_after'][0]:.1f} after (2 CPUs).", "",
              "| kind | workers | median seeds/hour | wall s (load average) of each round | 2 workers / 1, each round "
              "| verdicts |", "|---|---|---|---|---|---|"]
    for kind, row in result["kinds"].items():
        for label, rows in row["runs"].items():
            counts = rows[-1]["counts"]
            ratios = ", ".join(f"{r:.2f}" for r in row["round_ratios"]) if label == "2 workers" else ""
            lines.append(f"| {kind} | {label} | {row['seeds_per_hour'][label]:.0f} | "
                         + ", ".join(f"{r['wall_s']:.1f} ({r['loadavg_before']:.1f})" for r in rows)
                         + f" | {ratios} | " + ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items() if n)
                         + " |")
    if result.get("gateway_skipped"):
        lines += ["", f"Socket gateway not measured: {result['gateway_skipped']}."]
    else:
        lines += ["", "The socket gateway is an execnet server in its own network and mount namespaces on this "
                  "machine (a stand-in for a second machine): its row shows what the gateway costs, not what a "
                  "second machine's CPUs would add."]
    return lines
