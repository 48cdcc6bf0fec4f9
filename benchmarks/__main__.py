"""`python -m benchmarks [--quick] [--out DIR]`: run every group, write report.md and report.json."""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import (bench_codex_race, bench_discovery, bench_materialize, bench_memory, bench_peer, bench_race, bench_read,
               bench_soak, bench_startup, bench_suite, bench_worker, report)
from benchmarks.timing import FULL, QUICK, SMOKE, machine, zstd_cli

GROUPS = ("worker", "small", "read", "materialize", "discovery", "memory", "race", "suite", "startup", "peer", "codex",
          "soak")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 KB and 1 MB rollouts, a 100-file home")
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # seconds, for the tests
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent),
                        help="folder for report.md and report.json (default: benchmarks/)")
    parser.add_argument("--only", default=",".join(GROUPS), help=f"comma-separated subset of {GROUPS}")
    parser.add_argument("--note", action="append", default=[], help="a line to add to the report's notes")
    parser.add_argument("--workdir", default=None, help="scratch folder (default: a temp folder, removed)")
    args = parser.parse_args(argv)
    settings = SMOKE if args.smoke else QUICK if args.quick else FULL
    only = set(args.only.split(","))

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    work = Path(tempfile.mkdtemp(prefix="rollout-bench-", dir=args.workdir))
    started = time.perf_counter()
    doc = {"command": "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:]),
           "settings": settings.name, "started": datetime.datetime.now().isoformat(timespec="seconds"),
           "machine": machine(), "results": {}, "notes": list(args.note)}
    if zstd_cli() is None:
        doc["notes"].append("zstd CLI not found: every zstd anchor is skipped and its goal is 'not measured'.")
    res = doc["results"]
    try:
        if "worker" in only:
            res["worker_big"] = bench_worker.big_files(settings, work, log)
        if "small" in only:
            res["worker_small"] = bench_worker.small_files(settings, work, log)
        if "read" in only:
            res["read"] = bench_read.run(settings, work, log)
        if "materialize" in only:
            res["materialize"] = bench_materialize.run(settings, work, log)
        if "discovery" in only:
            res["discovery"] = bench_discovery.run(settings, work, log)
        if "memory" in only:
            res["memory"] = bench_memory.run(settings, work, log)
        if "race" in only:
            res["race"] = {"rate": bench_race.op_rate(settings, work, log),
                           "ttd": bench_race.time_to_detection(settings, work, log)}
        if "suite" in only:
            res["suite"] = bench_suite.run(settings, work, log)
        if "startup" in only:
            res["startup"] = bench_startup.run(settings, work, log)
        if "peer" in only:
            res["peer"] = bench_peer.run(settings, work, log)
        if "codex" in only:
            if args.smoke:  # its campaigns take minutes: not for a smoke run
                doc["notes"].append("codex race group (11) skipped in smoke: its campaigns take minutes.")
            else:
                res["codex_race"] = bench_codex_race.run(settings, work, log)
        if "soak" in only:
            res["soak"] = bench_soak.run(settings, work, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    doc["machine"]["loadavg_end"] = os.getloadavg()
    busiest = max(doc["machine"]["loadavg_start"][0], doc["machine"]["loadavg_end"][0])
    cpus = doc["machine"]["usable_cpus"] or 1
    if busiest >= cpus:
        doc["note"] = (f"The machine was busy during this run (load average up to {busiest:.1f} on {cpus} CPUs, "
                       "other test runs): absolute MB/s and files/s are depressed and noisy; the ratios, "
                       "timed alternately beside their anchors, are the numbers to trust.")
    doc["elapsed_s"] = time.perf_counter() - started
    doc["goals"] = report.goals(res)
    md, js = report.write(doc, Path(args.out))
    log(f"wrote {md} and {js}")
    for g in doc["goals"]:
        print(f"{g['status']:>16}  {g['goal']}  ({g['measured_text']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
