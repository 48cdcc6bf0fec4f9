"""Side-by-side timing, the machine description, and the size settings of a run."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from benchmarks.data import KB, MB


@dataclass(frozen=True)
class Settings:
    name: str
    big_sizes: tuple[int, ...]
    small_home_files: int
    discovery_homes: tuple[int, ...]
    repeats: int
    big_repeats: int  # for the biggest size, where one run is long
    memory_sizes: tuple[int, ...]
    discovery_budget_s: float = 0.0  # time allowed to build the optional largest discovery home
    optional_discovery: tuple[int, ...] = field(default=())
    race_writers: tuple[int, ...] = (2, 4)  # (6) writer processes
    race_window_s: float = 5.0  # (6) seconds each direct-loop measurement runs
    race_campaign_s: float = 0.0  # (6) context: a campaign of this length per selection (0: none)
    ttd_seeds: int = 10  # (7) random campaigns, one per seed
    ttd_ladder: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # (7) campaign bounds tried in turn
    scenario_runs: int = 10  # (7) runs of the scheduled scenario
    suite: tuple[str, ...] = ("reference", "cmd")  # (8) selections the suite runs against
    startup_repeats: int = 9  # (9) runs of each command and of the anchor
    peer_small_files: int = 1000  # (10) small cold rollouts in the home codex and the reference both compress
    peer_big_files: int = 3  # (10) cold 100 MB rollouts in a second home (0: none)


FULL = Settings("full", (100 * KB, MB, 10 * MB, 100 * MB), 1000, (1000, 10_000), 5, 3, (10 * MB, 100 * MB),
                discovery_budget_s=240.0, optional_discovery=(100_000,), race_campaign_s=5.0)
QUICK = Settings("quick", (100 * KB, MB), 100, (1000, 10_000), 3, 3, (100 * KB, MB),
                 race_window_s=2.0, ttd_seeds=3, ttd_ladder=(0.25, 1.0, 4.0), scenario_runs=3, suite=("reference",),
                 startup_repeats=5, peer_small_files=200, peer_big_files=0)
# smoke: seconds in all; the suite (20+ s by itself) is skipped and the report says so
SMOKE = Settings("smoke", (20 * KB, 100 * KB), 20, (30, 120), 1, 1, (20 * KB,),
                 race_writers=(2,), race_window_s=0.3, ttd_seeds=1, ttd_ladder=(1.0,), scenario_runs=1, suite=(),
                 startup_repeats=1, peer_small_files=0, peer_big_files=0)


def zstd_cli() -> str | None:
    return shutil.which("zstd")


def run_cmd(argv: list[str], cwd: str | None = None, shell: bool = False) -> None:
    done = subprocess.run(argv, cwd=cwd, shell=shell, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode not in (0, 1) or (done.returncode == 1 and not shell):
        raise RuntimeError(f"{argv!r} failed ({done.returncode}): {done.stderr.decode(errors='replace')[:400]}")


@dataclass
class Pair:
    """Times of a subject and its anchor, run alternately (ABBA) so drift hits both alike."""

    subject: list[float] = field(default_factory=list)
    anchor: list[float] = field(default_factory=list)

    @property
    def subject_s(self) -> float:
        return statistics.median(self.subject)

    @property
    def anchor_s(self) -> float:
        return statistics.median(self.anchor) if self.anchor else float("nan")

    @property
    def speed_ratio(self) -> float:
        """subject speed / anchor speed (> 1: the subject is faster)."""
        return self.anchor_s / self.subject_s if self.anchor else float("nan")

    def as_json(self) -> dict:
        return {"subject_s": self.subject, "anchor_s": self.anchor, "subject_median_s": self.subject_s,
                "anchor_median_s": self.anchor_s if self.anchor else None,
                "ratio": self.speed_ratio if self.anchor else None}


def timed(fn: Callable[[], object], setup: Callable[[], object] | None = None) -> float:
    if setup is not None:
        setup()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def side_by_side(subject: Callable[[], object], anchor: Callable[[], object] | None, repeats: int,
                 subject_setup: Callable[[], object] | None = None,
                 anchor_setup: Callable[[], object] | None = None) -> Pair:
    pair = Pair()
    for i in range(repeats):
        order = [("s", subject, subject_setup), ("a", anchor, anchor_setup)]
        if i % 2:
            order.reverse()
        for tag, fn, setup in order:
            if fn is None:
                continue
            t = timed(fn, setup)
            (pair.subject if tag == "s" else pair.anchor).append(t)
    return pair


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    import zstandard

    zstd = zstd_cli()
    zstd_version = None
    if zstd:
        out = subprocess.run([zstd, "--version"], capture_output=True, text=True).stdout.strip()
        zstd_version = out.replace("*", "").strip()
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "zstandard": zstandard.__version__,
        "zstd_cli": zstd_version,
        "loadavg_start": os.getloadavg(),
    }
