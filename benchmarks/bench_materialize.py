"""(4) materialize (decode a `.zst` back to plain, fsync, link, unlink) vs ``zstd -d``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from reference.store import ReferenceStore

from benchmarks import data
from benchmarks.bench_read import encode_file
from benchmarks.bench_worker import fsync_paths
from benchmarks.timing import Settings, run_cmd, side_by_side, zstd_cli


def run(settings: Settings, work: Path, log) -> list[dict]:
    rows = []
    zstd = zstd_cli()
    for size in settings.big_sizes:
        root = work / f"mat-{size}"
        rel, actual = data.big_rollout_home(root / "plain", size)
        packed = root / "packed.zst"
        encode_file(root / "plain" / rel, packed)
        shutil.rmtree(root / "plain")
        home = root / "home"
        target = home / (rel + ".zst")
        out = root / "out.jsonl"
        store = ReferenceStore()

        def setup_subject() -> None:
            shutil.rmtree(home, ignore_errors=True)
            target.parent.mkdir(parents=True)
            shutil.copy2(packed, target)
            store.configure(str(home))

        def subject() -> None:
            if not store.materialize(rel) or os.path.getsize(home / rel) != actual:
                raise RuntimeError("materialize did not produce the plain file")

        def setup_anchor() -> None:
            out.unlink(missing_ok=True)

        repeats = settings.big_repeats if size == max(settings.big_sizes) else settings.repeats
        pair = side_by_side(subject, (lambda: run_cmd([zstd, "-d", "-q", "-f", str(packed), "-o", str(out)]))
                            if zstd else None, repeats, setup_subject, setup_anchor)
        row = {"size": actual, "nominal": size, "materialize_MBps": actual / pair.subject_s / data.MB,
               "timing": pair.as_json()}
        if zstd:
            row["zstd_d_MBps"] = actual / pair.anchor_s / data.MB
            row["ratio"] = pair.speed_ratio
            # For information: `zstd -d` then fsync of the output and its folder, as materialize does.
            durable = side_by_side(subject, lambda: (run_cmd([zstd, "-d", "-q", "-f", str(packed), "-o", str(out)]),
                                                     fsync_paths([out])), repeats, setup_subject, setup_anchor)
            row["zstd_d_fsync_MBps"] = actual / durable.anchor_s / data.MB
            row["ratio_vs_fsync"] = durable.speed_ratio
        log(f"materialize {size}: {row['materialize_MBps']:.0f} MB/s ratio {row.get('ratio', float('nan')):.2f}")
        rows.append(row)
        shutil.rmtree(root, ignore_errors=True)
    return rows
