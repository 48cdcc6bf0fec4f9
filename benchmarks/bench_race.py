"""(6) race-harness operation rate and (7) time to detection of the lost-lines race.

(6) A small direct loop, not a campaign, is the judged number: N writer processes append one
200-byte line at a time to 4 shared rollouts and one compressor process compresses them round
robin (every append after a compress materializes again: one *compress cycle* = a ``compressed``
outcome).  Each child opens its own store from the selection (``reference`` in process, or
``cmd:<python> -m conformance.cli.serve --store reference``: one protocol server per child),
configures it with cold threshold 0, waits at a barrier, then runs for the same window; rates are
operations over that window.  Afterwards every rollout is read back and must hold every appended
line (a lost line voids the numbers).  A campaign (``run_campaign``) is *not* used for the judged
rate because its pacing is part of the harness, not the store: writers sleep up to 10 ms between
writes, actors start one after another inside the time bound (a ``cmd:`` actor spends most of a
short campaign starting its server) and every failpoint hit is a round trip to the controller.
In the full run a campaign per selection is still run for context, and its rates reported as such.

(7) Time to detection of the R2 lost-lines race in ``mutant:upstream-stat-recheck``:
- random: ``race_harness.campaign.time_to_detection(selection, seed, seconds)`` if it exists (seconds
  from the campaign's start to the earliest witness operation of its first violation, within a
  campaign bounded by the largest bound of the ladder; the wall time of each call is kept too), else
  ``python -m conformance.cli race --random --seed S --seconds B --report R.json`` over a ladder of
  bounds B (a campaign only judges at its end, so the time to detection is the wall time of the
  shortest-bounded run that reports ``lost_line``; the cumulative time of the ladder is kept too);
- scheduled: ``race_harness.scenarios.run_scenario(selection, "r2-writer-vs-unlink", root)`` timed
  in this process, N times; goal: a violation every time, each under 1 s.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from benchmarks.timing import Settings

ROOT = Path(__file__).resolve().parent.parent
MUTANT = "mutant:upstream-stat-recheck"
SCENARIO = "r2-writer-vs-unlink"
ROLLOUTS = 4
LINE_SIZE = 200


def cmd_selection() -> str:
    return f"cmd:{sys.executable} -m conformance.cli.serve --store reference"


# -- (6) operation rate ------------------------------------------------------------------------
def _child(role: str, index: int, selection: str, home: str, paths: list[str], window_s: float, barrier, queue) -> None:
    os.environ["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    from conformance.stores.selection import open_store
    from race_harness.history import make_line

    out = {"role": role, "index": index, "ops": 0, "errors": {}, "outcomes": {}, "per_path": {p: 0 for p in paths}}
    store = None
    try:
        store = open_store(selection)
        store.configure(home, 0.0)
        barrier.wait(120)
        rng = random.Random(index)
        start = time.monotonic()
        deadline = start + window_s
        i = 0
        while time.monotonic() < deadline:
            path = paths[i % len(paths)] if role == "compressor" else rng.choice(paths)
            i += 1
            try:
                if role == "writer":
                    store.append(path, [make_line(f"w{index}-{i}", LINE_SIZE)])
                    out["per_path"][path] += 1
                else:
                    outcome = store.compress(path)
                    out["outcomes"][outcome] = out["outcomes"].get(outcome, 0) + 1
                out["ops"] += 1
            except Exception as exc:  # noqa: BLE001 - counted; a store error is not a crash of the bench
                key = getattr(exc, "kind", None) or type(exc).__name__
                out["errors"][key] = out["errors"].get(key, 0) + 1
        out["elapsed_s"] = time.monotonic() - start
    except Exception as exc:  # noqa: BLE001
        out["failed"] = f"{type(exc).__name__}: {exc}"
        try:
            barrier.abort()
        except Exception:  # noqa: BLE001
            pass
    finally:
        if store is not None:
            try:
                store.close()
            except Exception:  # noqa: BLE001
                pass
        queue.put(out)


def _one_rate(selection: str, writers: int, window_s: float, work: Path) -> dict:
    from race_harness.history import make_header, make_line
    from reference.store import ReferenceStore

    home = work / f"race-rate-{uuid.uuid4().hex[:8]}"
    home.mkdir(parents=True)
    setup = ReferenceStore()
    setup.configure(str(home), 0.0)
    paths = []
    for i in range(ROLLOUTS):
        rid = str(uuid.UUID(int=random.Random(i).getrandbits(128), version=4))
        path = f"sessions/2025/01/03/rollout-2025-01-03T12-00-0{i}-{rid}.jsonl"
        setup.create(path, [make_header(rid, f"setup-{i}"), make_line(f"setup-{i}-1", LINE_SIZE)])
        paths.append(path)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(writers + 2)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_child, args=("writer", i, selection, str(home), paths, window_s, barrier, queue))
             for i in range(writers)]
    procs.append(ctx.Process(target=_child, args=("compressor", 99, selection, str(home), paths, window_s, barrier,
                                                  queue)))
    for p in procs:
        p.start()
    try:
        barrier.wait(120)
    except Exception:  # noqa: BLE001 - a child failed to start; its result says why
        pass
    results = [queue.get(timeout=window_s + 180) for _ in procs]
    for p in procs:
        p.join(30)
    failed = [r["failed"] for r in results if "failed" in r]
    if failed:
        raise RuntimeError(f"race rate child failed ({selection}): {failed[0]}")
    ws = [r for r in results if r["role"] == "writer"]
    comp = next(r for r in results if r["role"] == "compressor")
    window = statistics.mean(r["elapsed_s"] for r in results)
    appends = sum(r["ops"] for r in ws)
    # every acknowledged append must be there when read back
    lost = 0
    for path in paths:
        want = 2 + sum(r["per_path"][path] for r in ws)
        got = setup.read(path).items
        lost += max(0, want - got)
    shutil.rmtree(home, ignore_errors=True)
    compressed = comp["outcomes"].get("compressed", 0)
    return {"selection": selection, "writers": writers, "window_s": window, "appends": appends,
            "appends_per_s": appends / window, "compress_calls": comp["ops"],
            "compress_calls_per_s": comp["ops"] / comp["elapsed_s"],
            "compress_cycles_per_s": compressed / comp["elapsed_s"], "compress_outcomes": comp["outcomes"],
            "errors": {k: v for r in results for k, v in r["errors"].items()}, "lost_lines": lost}


def _campaign_rates(selection: str, writers: int, seconds: float, work: Path) -> dict:
    from race_harness.campaign import CampaignConfig, run_campaign

    start = time.perf_counter()
    verdict = run_campaign(selection, CampaignConfig(seconds=seconds, seed=1, writers=writers), str(work / "campaign"))
    wall = time.perf_counter() - start
    ops = verdict.stats.get("operations") or {}
    ok = {k: v.get("ok", 0) for k, v in ops.items()}
    outcomes = verdict.stats.get("outcomes") or {}
    shutil.rmtree(work / "campaign", ignore_errors=True)
    return {"selection": selection, "writers": writers, "seconds": seconds, "wall_s": wall, "status": verdict.status,
            "appends_per_s": (ok.get("append", 0) + ok.get("write", 0)) / seconds,
            "compress_calls_per_s": (ok.get("compress", 0)) / seconds,
            "compressed_per_s": outcomes.get("compressed", 0) / seconds, "operations_ok": ok}


def op_rate(settings: Settings, work: Path, log) -> dict:
    rows = []
    for writers in settings.race_writers:
        pair = {}
        # alternate which selection goes first so drift hits both alike
        order = [("in_process", "reference"), ("cmd", cmd_selection())]
        if writers % 4 == 0:
            order.reverse()
        for label, selection in order:
            pair[label] = _one_rate(selection, writers, settings.race_window_s, work)
        row = {"writers": writers, **pair,
               "append_overhead": pair["in_process"]["appends_per_s"] / pair["cmd"]["appends_per_s"],
               "compress_overhead": (pair["in_process"]["compress_calls_per_s"] / pair["cmd"]["compress_calls_per_s"]
                                     if pair["cmd"]["compress_calls_per_s"] else float("nan"))}
        rows.append(row)
        log(f"race rate {writers} writers: {pair['in_process']['appends_per_s']:.0f} vs "
            f"{pair['cmd']['appends_per_s']:.0f} appends/s (x{row['append_overhead']:.2f}), compress cycles "
            f"{pair['in_process']['compress_cycles_per_s']:.1f} vs {pair['cmd']['compress_cycles_per_s']:.1f}/s")
    out = {"method": "direct loop", "window_s": settings.race_window_s, "rollouts": ROLLOUTS,
           "line_size": LINE_SIZE, "rows": rows, "campaigns": []}
    if settings.race_campaign_s:
        for writers in settings.race_writers:
            for selection in ("reference", cmd_selection()):
                c = _campaign_rates(selection, writers, settings.race_campaign_s, work)
                out["campaigns"].append(c)
                log(f"campaign {selection[:9]} {writers} writers: {c['appends_per_s']:.0f} appends+writes/s, "
                    f"{c['compressed_per_s']:.1f} compressed/s ({c['status']})")
    return out


# -- (7) time to detection ---------------------------------------------------------------------
def _interpret(value) -> float | None | str:
    """Seconds to detection from whatever the colleague's function returns; 'unknown' if unreadable."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if value == value and value != float("inf") else None
    if isinstance(value, dict):
        items = value
    else:
        items = {k: getattr(value, k) for k in dir(value) if not k.startswith("_")}
    for key in ("seconds", "time_to_detection", "time_to_detection_s", "elapsed", "elapsed_s", "detected_after",
                "detected_at", "time", "wall_s"):
        if key in items and isinstance(items[key], (int, float, type(None))):
            if items.get("detected") is False or items.get("found") is False:
                return None
            return None if items[key] is None else float(items[key])
    return "unknown"


def _cli_run(seed: int, bound: float, work: Path) -> tuple[float, list[str], str]:
    report = work / f"ttd-{seed}-{bound}.json"
    argv = [sys.executable, "-m", "conformance.cli", "race", "--store", MUTANT, "--random", "--seed", str(seed),
            "--seconds", str(bound), "--report", str(report), "--bundle-dir", str(work / "ttd-bundles"),
            "--workdir", str(work / "ttd-runs")]
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=bound + 120)
    wall = time.perf_counter() - start
    shutil.rmtree(work / "ttd-runs", ignore_errors=True)
    if not report.is_file():
        raise RuntimeError(f"race --random exited {done.returncode} without a report: {done.stderr[-400:]}")
    doc = json.loads(report.read_text())
    classes = sorted({c for v in doc["verdicts"] for c in v["classes"]})
    return wall, classes, doc["status"]


def _ttd_cli(seed: int, ladder: tuple[float, ...], work: Path) -> dict:
    cumulative = 0.0
    attempts = []
    for bound in ladder:
        wall, classes, status = _cli_run(seed, bound, work)
        cumulative += wall
        attempts.append({"bound_s": bound, "wall_s": wall, "status": status, "classes": classes})
        if "lost_line" in classes:
            return {"seed": seed, "found": True, "seconds": wall, "bound_s": bound, "cumulative_s": cumulative,
                    "attempts": attempts}
    return {"seed": seed, "found": False, "seconds": None, "cumulative_s": cumulative, "attempts": attempts}


def time_to_detection(settings: Settings, work: Path, log) -> dict:
    from race_harness import campaign
    from race_harness.scenarios import run_scenario

    out: dict = {"selection": MUTANT, "random": {}, "scheduled": {}}
    api = getattr(campaign, "time_to_detection", None)
    seeds = list(range(settings.ttd_seeds))
    per_seed = []
    source = "cli ladder"
    if callable(api):
        source = "race_harness.campaign.time_to_detection"
        try:
            for s in seeds:
                start = time.perf_counter()
                value = api(MUTANT, s, max(settings.ttd_ladder))
                wall = time.perf_counter() - start
                seconds = _interpret(value)
                if seconds == "unknown":
                    raise TypeError(f"cannot read seconds from {value!r}")
                per_seed.append({"seed": s, "found": seconds is not None, "seconds": seconds, "wall_s": wall,
                                 "bound_s": max(settings.ttd_ladder), "returned": repr(value)[:300]})
                log(f"ttd seed {s}: {seconds} s (api)")
        except Exception as exc:  # noqa: BLE001 - someone else's new function: fall back, say why
            out["random"]["api_error"] = f"{type(exc).__name__}: {exc}"
            source, per_seed = "cli ladder", []
    if not per_seed:
        for s in seeds:
            row = _ttd_cli(s, settings.ttd_ladder, work)
            per_seed.append(row)
            log(f"ttd seed {s}: " + (f"{row['seconds']:.2f} s at bound {row['bound_s']} s" if row["found"]
                                     else "not found") + f", ladder {row['cumulative_s']:.1f} s")
    found = [r["seconds"] for r in per_seed if r["found"]]
    out["random"].update({"source": source, "ladder_s": list(settings.ttd_ladder), "seeds": per_seed,
                          "found": len(found), "runs": len(per_seed),
                          "median_s": statistics.median(found) if found else None,
                          "max_s": max(found) if found else None})
    if source != "cli ladder":
        walls = [r["wall_s"] for r in per_seed]
        out["random"].update({"bound_s": max(settings.ttd_ladder), "median_wall_s": statistics.median(walls),
                              "max_wall_s": max(walls)})
    if source == "cli ladder":
        cums = [r["cumulative_s"] for r in per_seed if r["found"]]
        out["random"]["median_cumulative_s"] = statistics.median(cums) if cums else None
        out["random"]["max_cumulative_s"] = max(cums) if cums else None
        shutil.rmtree(work / "ttd-bundles", ignore_errors=True)
    runs = []
    root = work / "ttd-scenario"
    for i in range(settings.scenario_runs):
        start = time.perf_counter()
        verdict = run_scenario(MUTANT, SCENARIO, str(root / str(i)))
        runs.append({"seconds": time.perf_counter() - start, "status": verdict.status,
                     "classes": list(verdict.classes)})
    start = time.perf_counter()
    control = run_scenario("reference", SCENARIO, str(root / "reference"))
    control_s = time.perf_counter() - start
    shutil.rmtree(root, ignore_errors=True)
    times = [r["seconds"] for r in runs]
    out["scheduled"] = {"scenario": SCENARIO, "runs": runs, "detected": sum("lost_line" in r["classes"] for r in runs),
                        "median_s": statistics.median(times), "max_s": max(times),
                        "reference_control": {"status": control.status, "seconds": control_s}}
    log(f"scenario {SCENARIO}: {out['scheduled']['detected']}/{len(runs)} detected, max {max(times):.2f} s; "
        f"reference {control.status}")
    return out
