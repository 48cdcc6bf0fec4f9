"""(5) listing, find-by-id and search over homes of growing size (half compressed) vs find/grep.

Subject: ``ReferenceStore.list()`` / ``.find(id)`` / ``.search(text)`` in this process.  Anchors:
``find -printf | sort`` (listing sorted by mtime), ``find -name '*<id>*' -quit`` (lookup of an
archived id: both scan the active area first), and ``grep -rn`` over plain files plus
``zstd -dcq | grep -n`` over the `.zst` ones (search).  Growth factor = time(N2)/time(N1)
divided by N2/N1: 1.0 is linear, below 1 is better than linear.  A third timing, a bare Python
``os.walk`` + ``stat`` of every file (the filesystem floor), runs beside each op; growth "vs floor"
(the reference's time relative to the floor, at N2 over N1) separates the reference's own scaling
from the machine's (caches, noise).
"""

from __future__ import annotations

import os
import shlex
import shutil
import time
from pathlib import Path

from reference.store import ReferenceStore

from benchmarks import data
from benchmarks.timing import Settings, run_cmd, side_by_side, zstd_cli

NEEDLE = "NEEDLE-7c1f-benchmark"


def walk_floor(home: Path) -> int:
    """The least any listing must do: walk both areas and stat every file (the filesystem floor)."""
    n = 0
    for area in ("sessions", "archived_sessions"):
        for folder, _dirs, files in os.walk(home / area):
            for name in files:
                os.stat(os.path.join(folder, name), follow_symlinks=False)
                n += 1
    return n


def _ops(home: Path, manifest: dict, have_zstd: bool) -> dict:
    store = ReferenceStore()
    store.configure(str(home))
    h = shlex.quote(str(home))
    rid = manifest["lookup_id"]
    def search() -> None:
        hits = store.search(NEEDLE)
        if not hits:
            raise RuntimeError("search found nothing")

    def grep() -> None:
        zstd_part = (f"; find {h}/sessions -name '*.jsonl.zst' -print0 | xargs -0 -r zstd -dcq | grep -n {NEEDLE}"
                     if have_zstd else "")
        run_cmd(f"grep -rn --include='*.jsonl' {NEEDLE} {h}/sessions{zstd_part} >/dev/null", shell=True)

    def find_id() -> None:
        if store.find(rid) is None:
            raise RuntimeError("find returned None")

    return {
        "list": (lambda: store.list(),
                 lambda: run_cmd(f"find {h}/sessions -name 'rollout-*.jsonl*' ! -name '*.tmp' -printf '%T@ %p\\n'"
                                 f" | sort -rn >/dev/null", shell=True)),
        "find": (find_id,
                 lambda: run_cmd(["find", f"{home}/sessions", f"{home}/archived_sessions", "-name", f"*{rid}*",
                                  "-print", "-quit"])),
        "search": (search, grep),
    }


def _repeats(settings: Settings, n: int) -> int:
    """Timings of each op per pair: many on small homes (cheap, noisy), 3 from 100,000 rollouts, where one
    op takes seconds and the machine's drift, not the timer, is the noise."""
    return 3 if n >= 100_000 else max(3, 2 * settings.repeats - 1)


def run(settings: Settings, work: Path, log) -> dict:
    have_zstd = zstd_cli() is not None
    sizes = list(settings.discovery_homes)
    results: dict = {"homes": {}, "skipped": []}
    build_rate = ops_s = None
    for n in sizes + list(settings.optional_discovery):
        repeats = _repeats(settings, n)
        if n not in sizes:
            prev = max(results["homes"]) if results["homes"] else None
            # build + timed ops, each op's time growing with the home and with the number of repeats
            projected = (n * build_rate + ops_s * n / prev * repeats / _repeats(settings, prev)) if prev else float("inf")
            if projected > settings.discovery_budget_s:
                results["skipped"].append(f"{n} rollouts: projected {projected:.0f} s > budget "
                                          f"{settings.discovery_budget_s:.0f} s")
                log(results["skipped"][-1])
                continue
        home = work / f"disc-{n}"
        start = time.perf_counter()
        manifest = data.small_home(home, n, seed=3, compressed_fraction=0.5, needle=NEEDLE, tiny=True)
        build_s = time.perf_counter() - start
        build_rate = build_s / n
        results.setdefault("build_s", {})[n] = build_s
        ops_start = time.perf_counter()
        per_op = {}
        for op, (subject, anchor) in _ops(home, manifest, have_zstd).items():
            subject()  # warm the dentry cache for both
            pair = side_by_side(subject, anchor, repeats)
            floor = side_by_side(subject, lambda: walk_floor(home), repeats)
            per_op[op] = {"subject_s": pair.subject_s, "anchor_s": pair.anchor_s, "ratio": pair.speed_ratio,
                          "floor_s": floor.anchor_s, "floor_ratio": floor.speed_ratio,
                          "timing": pair.as_json(), "timing_floor": floor.as_json()}
        results["homes"][n] = per_op
        ops_s = time.perf_counter() - ops_start
        timings = ", ".join(f"{op} {v['subject_s']*1e3:.0f} ms ({v['ratio']:.2f}x)" for op, v in per_op.items())
        log(f"discovery {n} (home built in {build_s:.1f} s, ops timed in {ops_s:.1f} s): {timings}")
        shutil.rmtree(home, ignore_errors=True)
    measured = sorted(results["homes"])
    growth = {}
    for small, big in zip(measured, measured[1:]):
        scale = big / small
        growth[f"{small}->{big}"] = {
            op: {"subject": results["homes"][big][op]["subject_s"] / results["homes"][small][op]["subject_s"] / scale,
                 "anchor": results["homes"][big][op]["anchor_s"] / results["homes"][small][op]["anchor_s"] / scale,
                 "floor": results["homes"][big][op]["floor_s"] / results["homes"][small][op]["floor_s"] / scale,
                 # growth of the reference relative to the walk floor timed beside it: noise-robust
                 "vs_floor": results["homes"][small][op]["floor_ratio"] / results["homes"][big][op]["floor_ratio"]}
            for op in results["homes"][big]}
    results["growth"] = growth
    return results
