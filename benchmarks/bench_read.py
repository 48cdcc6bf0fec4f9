"""(3) compressed reads: ``ReferenceStore.read`` of a `.zst` vs reading the plain file line by line.

``ReferenceStore.read`` decodes, splits and ``json.loads`` every line (to count items and parse
errors), so it is compared with a plain line loop without parsing (raw) and with ``json.loads`` per
line (parsed).  A third pair times the streaming line splitter alone (``reading.lines_of`` over the
`.zst`) against the raw loop, to tell decode+split cost from parse cost.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import zstandard

from reference import reading
from reference.store import ReferenceStore

from benchmarks import data
from benchmarks.timing import Settings, side_by_side


def encode_file(src: Path, dst: Path) -> None:
    """The `.zst` the reference worker writes: level 3, checksum, content size, one frame."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    cctx = zstandard.ZstdCompressor(level=3, write_checksum=True, write_content_size=True)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        cctx.copy_stream(fin, fout, size=os.path.getsize(src))
    st = os.stat(src)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def raw_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as f:
        for _ in f:
            n += 1
    return n


def parsed_lines(path: Path) -> int:
    n = 0
    loads = json.loads
    with open(path, "rb") as f:
        for line in f:
            loads(line)
            n += 1
    return n


def run(settings: Settings, work: Path, log) -> list[dict]:
    rows = []
    for size in settings.big_sizes:
        root = work / f"read-{size}"
        rel, actual = data.big_rollout_home(root / "plain", size)
        plain = root / "plain" / rel
        encode_file(plain, root / "zst" / (rel + ".zst"))
        lines = raw_lines(plain)
        store = ReferenceStore()
        store.configure(str(root / "zst"))

        def store_read() -> None:
            result = store.read(rel)
            if result.items != lines or result.representation != "zst":
                raise RuntimeError(f"read {result.items} items of {lines} ({result.representation})")

        def split_only() -> None:
            opened = reading.open_selected(store.home.locate(rel))
            try:
                for _ in reading.lines_of(reading.byte_chunks(opened)):
                    pass
            finally:
                os.close(opened.fd)

        repeats = settings.big_repeats if size == max(settings.big_sizes) else settings.repeats
        store_read(), raw_lines(plain)  # warm both
        raw = side_by_side(store_read, lambda: raw_lines(plain), repeats)
        parsed = side_by_side(store_read, lambda: parsed_lines(plain), repeats)
        split = side_by_side(split_only, lambda: raw_lines(plain), repeats)
        row = {"size": actual, "nominal": size, "lines": lines,
               "store_read_lines_per_s": lines / raw.subject_s,
               "plain_raw_lines_per_s": lines / raw.anchor_s,
               "plain_parsed_lines_per_s": lines / parsed.anchor_s,
               "ratio_raw": raw.speed_ratio, "ratio_parsed": parsed.speed_ratio,
               "split_only_lines_per_s": lines / split.subject_s, "ratio_split_vs_raw": split.speed_ratio,
               "timing": {"raw": raw.as_json(), "parsed": parsed.as_json(), "split": split.as_json()}}
        log(f"read {size}: {row['ratio_raw']:.2f}x raw, {row['ratio_parsed']:.2f}x parsed")
        rows.append(row)
        shutil.rmtree(root, ignore_errors=True)
    return rows
