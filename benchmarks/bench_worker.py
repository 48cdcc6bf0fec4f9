"""(1) worker throughput on big rollouts and (2) the small-file rate, each against the zstd CLI.

Subject: ``reference.worker.run`` with cold threshold 0 over a fresh copy of a home (encode,
byte-for-byte verify, fsyncs, publish, unlink), timed in this process.  Anchor: ``zstd -3 -q`` then
``zstd -t`` of the same files (no fsync, no verify against the source), also on a fresh copy.
"""

from __future__ import annotations

import os
import resource
import shutil
from pathlib import Path

from reference import worker
from reference.home import Home

from benchmarks import data
from benchmarks.timing import Settings, run_cmd, side_by_side, zstd_cli


def _fresh(template: Path, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(template, target, symlinks=True)  # copy2 keeps the old mtimes: still cold


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _worker(home: Path, expect: int, cpu: list[float]) -> None:
    before = _cpu()
    report = worker.run(Home.open(str(home), 0))
    cpu.append(_cpu() - before)
    done = report.count("compressed")
    if not report.ran or done != expect:
        raise RuntimeError(f"worker compressed {done} of {expect}: {dict(list(report.results.items())[:3])}")


def fsync_paths(paths: list[Path]) -> None:
    """fsync each file and each distinct folder once: the durability the worker pays for."""
    folders = set()
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        folders.add(os.path.dirname(path))
    for folder in folders:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _zstd(files: list[Path], threads: int | None = None, durable: bool = False) -> None:
    zstd = zstd_cli()
    extra = [f"-T{threads}"] if threads is not None else []
    run_cmd([zstd, "-3", "-q", "-f", *extra, *map(str, files)])
    run_cmd([zstd, "-t", "-q", *(f"{f}.zst" for f in files)])
    if durable:
        fsync_paths([Path(f"{f}.zst") for f in files])


def big_files(settings: Settings, work: Path, log) -> list[dict]:
    rows = []
    have_zstd = zstd_cli() is not None
    for size in settings.big_sizes:
        tpl = work / f"big-{size}" / "template"
        rel, actual = data.big_rollout_home(tpl, size)
        subject_home, anchor_home = work / f"big-{size}" / "w", work / f"big-{size}" / "z"
        repeats = settings.big_repeats if size == max(settings.big_sizes) else settings.repeats
        cpu: list[float] = []
        pair = side_by_side(
            lambda: _worker(subject_home, 1, cpu),
            (lambda: _zstd([anchor_home / rel])) if have_zstd else None,
            repeats,
            subject_setup=lambda: _fresh(tpl, subject_home),
            anchor_setup=lambda: _fresh(tpl, anchor_home),
        )
        row = {"size": actual, "nominal": size, "worker_MBps": actual / pair.subject_s / data.MB,
               "timing": pair.as_json(), "worker_cpu_s": cpu}
        if have_zstd:
            row["zstd_MBps"] = actual / pair.anchor_s / data.MB
            row["ratio"] = pair.speed_ratio
            # For information: zstd using every core, since the worker may thread big encodes.
            t0 = side_by_side(lambda: _zstd([anchor_home / rel], threads=0), None, repeats,
                              subject_setup=lambda: _fresh(tpl, anchor_home))
            row["zstd_T0_MBps"] = actual / t0.subject_s / data.MB
            row["ratio_vs_T0"] = t0.subject_s / pair.subject_s
        log(f"worker {size}: {row['worker_MBps']:.1f} MB/s, ratio {row.get('ratio', float('nan')):.2f}")
        rows.append(row)
        shutil.rmtree(work / f"big-{size}", ignore_errors=True)
    return rows


def small_files(settings: Settings, work: Path, log) -> dict:
    tpl = work / "small" / "template"
    manifest = data.small_home(tpl, settings.small_home_files, max_size=20 * data.KB)
    n = manifest["count"]
    subject_home, anchor_home = work / "small" / "w", work / "small" / "z"
    have_zstd = zstd_cli() is not None
    cpu: list[float] = []
    pair = side_by_side(
        lambda: _worker(subject_home, n, cpu),
        (lambda: _zstd([anchor_home / r for r in manifest["rels"]])) if have_zstd else None,
        settings.repeats,
        subject_setup=lambda: _fresh(tpl, subject_home),
        anchor_setup=lambda: _fresh(tpl, anchor_home),
    )
    cores = min(worker.PARALLEL_FILES, len(os.sched_getaffinity(0)))
    cpu_median = sorted(cpu)[len(cpu) // 2]
    out = {"files": n, "bytes": manifest["bytes"], "timing": pair.as_json(),
           "worker_files_per_s": n / pair.subject_s, "cores_used": cores,
           "files_per_s_per_core_wall": n / pair.subject_s / cores,
           "files_per_cpu_s": n / cpu_median, "worker_cpu_s": cpu}
    if have_zstd:
        out["zstd_files_per_s"] = n / pair.anchor_s
        out["ratio"] = pair.speed_ratio
        # For information: the anchor plus one fsync per output and per folder (the worker does
        # three per file: temp, folder after publish, folder after unlink).
        durable = side_by_side(lambda: _worker(subject_home, n, cpu),
                               lambda: _zstd([anchor_home / r for r in manifest["rels"]], durable=True),
                               settings.repeats, subject_setup=lambda: _fresh(tpl, subject_home),
                               anchor_setup=lambda: _fresh(tpl, anchor_home))
        out["zstd_fsync_files_per_s"] = n / durable.anchor_s
        out["ratio_vs_fsync"] = durable.speed_ratio
        out["timing_vs_fsync"] = durable.as_json()
    log(f"small home {n}: {out['worker_files_per_s']:.0f} files/s, ratio {out.get('ratio', float('nan')):.2f}")
    shutil.rmtree(work / "small", ignore_errors=True)
    return out
