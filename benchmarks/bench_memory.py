"""(6) peak memory of the worker compressing a rollout and of the reader streaming it.

Each measurement runs in a fresh child process (``python -m benchmarks.bench_memory``) that
records its peak RSS (``VmHWM``, else ``ru_maxrss``) after its imports and after the operation; the growth is what the operation
itself needed.  The reader is ``reading.count_lines`` over the `.zst` (the streaming path every read
takes; ``ReferenceStore.read`` additionally returns the whole content, by interface, so it is not
bounded and not measured here).  Bounded: growth at the biggest size <= LIMIT_MB; independent of
size: growth(biggest) - growth(smallest) <= SPREAD_MB (the biggest rollout also has the longest line).
A last pair of children runs on a rollout of the biggest size made of one short line repeated
(compresses >1000x): it must stay within LIMIT_MB too.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks import data
from benchmarks.timing import Settings

LIMIT_MB = 64
SPREAD_MB = 32


def _maxrss_mb() -> float:
    """Peak RSS of this process image.  ``VmHWM`` first: ``ru_maxrss`` survives exec, so a child
    spawned by a big parent would start at the parent's peak and hide its own growth."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(kind: str, home: str, rel: str) -> dict:
    from reference import reading, worker
    from reference.home import Home

    h = Home.open(home, 0)
    base = _maxrss_mb()
    if kind == "worker":
        report = worker.run(h)
        assert report.count("compressed") == 1, report
    else:
        opened = reading.open_selected(h.locate(rel))
        try:
            counts = reading.count_lines(reading.byte_chunks(opened))
        finally:
            os.close(opened.fd)
        assert opened.compressed and counts.items > 0
    return {"base_mb": base, "peak_mb": _maxrss_mb(), "growth_mb": _maxrss_mb() - base}


def _spawn(kind: str, home: Path, rel: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_memory", kind, str(home), rel],
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    if out.returncode:
        raise RuntimeError(f"memory child {kind} failed: {out.stderr[-800:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(settings: Settings, work: Path, log) -> dict:
    rows = []
    for size in settings.memory_sizes:
        home = work / f"mem-{size}"
        rel, actual = data.big_rollout_home(home, size)
        longest = max(len(line) for line in open(home / rel, "rb"))
        w = _spawn("worker", home, rel)  # leaves the `.zst` for the reader
        r = _spawn("reader", home, rel)
        rows.append({"size": actual, "nominal": size, "longest_line": longest, "worker": w, "reader": r})
        log(f"memory {size}: worker +{w['growth_mb']:.1f} MB, reader +{r['growth_mb']:.1f} MB")
        shutil.rmtree(home, ignore_errors=True)
    # The same biggest size, but one line repeated: compressed >1000x, so any decoder step whose
    # output is bounded by its compressed input (not by a fixed size) shows up here.
    size = max(settings.memory_sizes)
    home = work / "mem-repetitive"
    rel, actual = data.repetitive_rollout_home(home, size)
    w = _spawn("worker", home, rel)
    r = _spawn("reader", home, rel)
    zst_size = os.path.getsize(home / (rel + ".zst"))
    repetitive = {"size": actual, "nominal": size, "zst_size": zst_size, "worker": w, "reader": r}
    log(f"memory repetitive {size}: worker +{w['growth_mb']:.1f} MB, reader +{r['growth_mb']:.1f} MB")
    shutil.rmtree(home, ignore_errors=True)
    return {"rows": rows, "repetitive": repetitive, "limit_mb": LIMIT_MB, "spread_mb": SPREAD_MB}


if __name__ == "__main__":
    print(json.dumps(child(*sys.argv[1:4])))
