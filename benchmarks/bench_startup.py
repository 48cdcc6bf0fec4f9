"""(9) CLI start-up: each hot subcommand vs ``python -c "import zstandard"``, timed alternately.

Every ``serve`` adapter start (each race actor, each suite test through ``cmd:``) and every command a
user types pays this.  Subjects: ``rollout-conformance serve --store reference`` answering one
``hello`` then end of input, and ``read``, ``list``, ``find``, ``search``, ``compress`` on a home of
one cold rollout; anchor: the same interpreter importing zstandard (the least any of them must do).
Bytecode is compiled first (``compileall``), as an installed package has it: with
``PYTHONDONTWRITEBYTECODE`` set (as on the development machine) every start would otherwise compile
the project's modules from source.  The judged number is the ratio of the fastest wall time of each
(min of the alternated runs: the run least disturbed by the other users of a shared machine, for
subject and anchor alike); medians and CPU time (user + system of the child, which moves less with
the load) are reported beside it.
"""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from conformance.oracle import disk as oracle

from benchmarks.timing import Settings

ROOT = Path(__file__).resolve().parent.parent
GOAL = 3.0
HOT = ("serve", "read", "list", "find", "search", "compress")
_ID = "0199a213-81c0-7800-8aa1-bbab2a035a53"


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("rollout-conformance")
    return [str(script)] if script.exists() else [sys.executable, "-m", "conformance.cli"]


def _commands(home: Path, rel: str) -> dict[str, tuple[list[str], bytes]]:
    cli, h = _cli(), str(home)
    return {
        "anchor": ([sys.executable, "-c", "import zstandard"], b""),
        "serve": ([*cli, "serve", "--store", "reference"], b'{"id": 1, "op": "hello", "protocol": 1}\n'),
        "read": ([*cli, "read", "--home", h, rel], b""),
        "list": ([*cli, "list", "--home", h], b""),
        "find": ([*cli, "find", "--home", h, _ID], b""),
        "search": ([*cli, "search", "--home", h, "hello"], b""),
        "compress": ([*cli, "compress", "--home", h, "--dry-run"], b""),
    }


def _once(argv: list[str], stdin: bytes) -> tuple[float, float]:
    """(wall s, CPU s of the child) of one run; a failing command voids the measurement."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=ROOT)
    proc.stdin.write(stdin)
    proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {proc.returncode}; run it by hand to see why")
    return wall, usage.ru_utime + usage.ru_stime


def run(settings: Settings, work: Path, log) -> dict:
    for package in ("conformance", "reference", "race_harness"):
        compileall.compile_dir(str(ROOT / package), quiet=1)
    home = work / "startup-home"
    rel = f"sessions/2025/01/03/rollout-2025-01-03T12-00-00-{_ID}.jsonl"
    oracle.write_plain(home, rel, oracle.session_meta_line(_ID) + oracle.user_message_line("hello"),
                       mtime_ns=time.time_ns() - 30 * 86400 * 10**9)
    commands = _commands(home, rel)
    times: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in commands}
    for i in range(settings.startup_repeats):
        order = list(commands) if i % 2 == 0 else list(reversed(commands))
        for name in order:
            argv, stdin = commands[name]
            wall, cpu = _once(argv, stdin)
            times[name]["wall"].append(wall)
            times[name]["cpu"].append(cpu)
    anchor = times["anchor"]
    rows = {name: {"wall_s": min(t["wall"]), "median_wall_s": statistics.median(t["wall"]),
                   "cpu_s": statistics.median(t["cpu"]),
                   "ratio_wall": min(t["wall"]) / min(anchor["wall"]),
                   "ratio_median_wall": statistics.median(t["wall"]) / statistics.median(anchor["wall"]),
                   "ratio_cpu": statistics.median(t["cpu"]) / statistics.median(anchor["cpu"])}
            for name, t in times.items()}
    log("start-up: " + ", ".join(f"{name} {r['ratio_wall']:.2f}x" for name, r in rows.items() if name != "anchor"))
    return {"goal": GOAL, "repeats": settings.startup_repeats, "anchor": "python -c 'import zstandard'",
            "rows": rows, "raw": times}
