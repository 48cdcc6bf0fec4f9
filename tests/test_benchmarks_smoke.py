"""`python -m benchmarks` end to end at a tiny size: the reports exist and every goal has a status.

No timing assertions: the numbers of a smoke run mean nothing; only the plumbing is checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_IDS = {"worker-big", "worker-small", "files-per-core", "read-raw", "read-parsed", "materialize",
            "listing-linear", "memory-worker", "memory-reader"}


def test_benchmarks_smoke(tmp_path):
    out = tmp_path / "tmp"
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--smoke", "--out", str(out),
                           "--workdir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    md, js = out / "report.md", out / "report.json"
    assert md.is_file() and js.is_file()
    doc = json.loads(js.read_text())
    assert {"nproc", "cpu_model", "python", "zstandard"} <= set(doc["machine"])
    goals = doc["goals"]
    assert {g["id"] for g in goals} == GOAL_IDS
    text = md.read_text()
    for g in goals:
        assert g["status"] == "met" or g["status"].startswith(("missed by", "not measured")), g
        assert g["goal"] in text and f"**{g['status']}**" in text
    assert "Owned by others" in text
    assert not list(tmp_path.glob("rollout-bench-*")), "scratch folder left behind"


def test_proposed_bounded_decoder_agrees_with_the_reference(tmp_path):
    """The what-if decoder in benchmarks/proposal_codec.py decodes what codec does and errs where it errs."""
    import os

    import pytest

    sys.path.insert(0, str(ROOT))  # benchmarks/ is not an installed package
    from benchmarks import proposal_codec
    from conformance import oracle
    from reference import codec
    from reference.errors import CorruptError

    data = b"".join(oracle.user_message_line(f"line {i} " * (i % 50)) for i in range(3000)) + b"x\n" * 400_000
    blobs = [oracle.encode_zst(data), oracle.encode_zst(data, frames=4, skippable=True), oracle.encode_zst(b""), b""]
    for i, blob in enumerate(blobs + [blobs[0][:-5], blobs[0][: len(blobs[0]) // 2], b"not zstd at all\n"]):
        path = tmp_path / f"{i}.zst"
        path.write_bytes(blob)
        fd = os.open(path, os.O_RDONLY)
        try:
            try:
                want = b"".join(codec.decoded_chunks(fd))
            except CorruptError:
                with pytest.raises(CorruptError):
                    b"".join(proposal_codec.decoded_chunks(fd))
                continue
            chunks = list(proposal_codec.decoded_chunks(fd))
            assert b"".join(chunks) == want
            assert all(len(c) <= proposal_codec.MAX_BLOCKS * 128 * 1024 for c in chunks)
        finally:
            os.close(fd)
