"""The oracle against bytes it did not make: the zstd CLI when installed, else plain zstandard calls."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import struct
import subprocess
import time
from datetime import date, datetime

import pytest
import zstandard

from conformance.oracle import disk as o
from conformance.oracle import homegen

ZSTD = shutil.which("zstd")
UUID = "0199a213-81c0-7800-8aa1-bbab2a035a53"
NAME = f"rollout-2025-01-03T12-00-00-{UUID}.jsonl"
BODY = o.session_meta_line(UUID) + o.user_message_line("hello ✓") + o.response_item_line("hi") * 50


def independent_zst(tmp_path, data: bytes, name: str = "in") -> bytes:
    """One frame made without encode_zst: the zstd CLI (file input, so content size is recorded)."""
    if ZSTD is None:
        return zstandard.ZstdCompressor(level=3, write_checksum=True).compress(data)
    src = tmp_path / name
    src.write_bytes(data)
    return subprocess.run([ZSTD, "-q", "-3", "--check", "-c", str(src)], check=True, capture_output=True).stdout


def cli_accepts(tmp_path, blob: bytes) -> bool | None:
    """What the zstd CLI says about ``blob`` (None without the CLI)."""
    if ZSTD is None:
        return None
    path = tmp_path / "cli.zst"
    path.write_bytes(blob)
    return subprocess.run([ZSTD, "-q", "-t", str(path)], capture_output=True).returncode == 0


def put(tmp_path, blob: bytes):
    path = tmp_path / "x.jsonl.zst"
    path.write_bytes(blob)
    return path


# --- naming and lines ---------------------------------------------------------------------------


def test_naming():
    assert o.rollout_name(datetime(2025, 1, 3, 12, 0, 0), UUID) == NAME
    assert o.active_path(NAME) == f"sessions/2025/01/03/{NAME}"
    assert o.active_path(NAME, date(2025, 2, 1)) == f"sessions/2025/02/01/{NAME}"
    assert o.archived_path(NAME) == f"archived_sessions/{NAME}"
    assert o.logical_of(f"sessions/2025/01/03/{NAME}.zst") == f"sessions/2025/01/03/{NAME}"
    assert o.logical_of(NAME) == NAME
    assert o.parse_name(NAME + ".zst") == ("2025-01-03T12-00-00", UUID)
    assert o.parse_name(NAME.upper().replace("ROLLOUT", "rollout").replace(".JSONL", ".jsonl"))[1] == UUID.upper()
    assert o.parse_name("rollout-2025-01-03T12-00-00-not-a-uuid.jsonl") is None
    assert o.parse_name(NAME + ".zst.compress.1.0.tmp") is None
    assert o.is_temp(NAME + ".zst.compress.1.0.tmp") and o.is_temp(NAME + ".tmp") and not o.is_temp(NAME)


def test_line_makers_are_whole_json_lines():
    lines = [o.session_meta_line(UUID, forked_from_id=UUID), o.user_message_line("é"), o.response_item_line("x"),
             o.tool_output_line("c", "out\n" * 10), o.image_line("AAAA"), o.turn_context_line(), o.compacted_line("s")]
    for raw in lines:
        assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    assert o.whole_json_lines(b"".join(lines))
    assert b'"forked_from_id":"' + UUID.encode() in lines[0]
    assert "é".encode() in lines[1]  # UTF-8 kept, not \u-escaped


@pytest.mark.parametrize("data, whole, counts", [
    (b"", True, (0, 0)),
    (b'{"a":1}\n{"b":2}\n', True, (2, 0)),
    (b'{"a":1}\n{"b":2', False, (1, 1)),
    (b'{"a":1}\n{"b":2}', False, (1, 1)),
    (b'{"a":1}\n\n', False, (1, 0)),
    (b'[1]\n', False, (0, 1)),
    (b'{"a":"\xff"}\n', False, (0, 1)),
    (b'\xef\xbb\xbf{"a":1}\n', True, (1, 0)),
    (b'{"a":1}\n\xef\xbb\xbf{"a":1}\n', False, (1, 1)),
    (b'{"a":1}\n' + b"\xff" * 65536, False, (1, 1)),
])
def test_whole_json_lines_and_counts(data, whole, counts):
    assert o.whole_json_lines(data) is whole
    assert o.line_counts(data) == counts


# --- zstd decoding against independent bytes ----------------------------------------------------


def test_single_frame(tmp_path):
    blob = independent_zst(tmp_path, BODY)
    path = put(tmp_path, blob)
    assert o.decode_zst(path) == BODY
    (info,) = o.frame_info(path)
    assert info.has_checksum and not info.skippable and info.offset == 0
    assert info.content_size in (len(BODY), None)


def test_multi_frame_reads_every_frame(tmp_path):
    a, b = BODY[:100], BODY[100:]
    blob = independent_zst(tmp_path, a, "a") + independent_zst(tmp_path, b, "b")
    path = put(tmp_path, blob)
    assert o.decode_zst(path) == BODY
    frames = o.frame_info(path)
    assert len(frames) == 2 and frames[1].offset == len(independent_zst(tmp_path, a, "a"))
    # the trap the oracle exists to avoid: a first-frame-only decoder sees only part of the rollout
    assert zstandard.ZstdDecompressor().decompressobj().decompress(blob) == a


def test_skippable_frames_are_ignored(tmp_path):
    skip = struct.pack("<II", 0x184D2A5F, 3) + b"xyz"
    blob = skip + independent_zst(tmp_path, BODY) + skip
    path = put(tmp_path, blob)
    assert o.decode_zst(path) == BODY
    assert [f.skippable for f in o.frame_info(path)] == [True, False, True]
    assert cli_accepts(tmp_path, blob) in (True, None)


@pytest.mark.parametrize("damage", ["truncated", "flipped", "raw_append", "garbage", "empty", "half_header",
                                    "bad_second_header", "truncated_skippable", "skippable_only"])
def test_damage_is_corrupt(tmp_path, damage):
    good = independent_zst(tmp_path, BODY)
    mid = bytearray(good)
    mid[len(mid) // 2] ^= 0x5A
    blob = {
        "truncated": good[:-5],
        "flipped": bytes(mid),
        "raw_append": good + o.user_message_line("raw"),
        "garbage": BODY,
        "empty": b"",
        "half_header": good + good[:3],
        # The magic of a frame, then a header zstd cannot parse (reserved bit set): corrupt, not a crash.
        "bad_second_header": good + b"\x28\xb5\x2f\xfd" + b"\xff" * 64,
        "truncated_skippable": good + struct.pack("<II", 0x184D2A50, 100) + b"short",
        "skippable_only": o.skippable_frame(b"no data"),  # SPEC 4.4: one or more data frames (READ-013)
    }[damage]
    with pytest.raises(o.OracleCorrupt):
        o.decode_zst(put(tmp_path, blob))
    # The zstd CLI passes a file of skippable frames only; SPEC 4.4 wants one or more data frames.
    assert cli_accepts(tmp_path, blob) in ((True, None) if damage == "skippable_only" else (False, None))


@pytest.mark.parametrize("damage, problem", [
    ("raw_append", "raw_bytes"), ("raw_append_after_newlines", "raw_bytes"), ("truncated", "torn_frame"),
    ("flipped", "torn_frame"), ("binary_tail", "torn_frame"), ("truncated_skippable", "torn_frame"),
    ("empty", "torn_frame")])
def test_decode_partial_keeps_what_decoded_and_names_the_damage(tmp_path, damage, problem):
    """The race checker's view: raw JSONL where a frame must start is APPEND-001's raw_bytes, anything else torn."""
    good = o.encode_zst(BODY)
    second = o.encode_zst(b"second frame\n")
    blob = {
        "raw_append": good + o.user_message_line("raw"),
        "raw_append_after_newlines": good + b"\n\n" + o.user_message_line("raw"),
        "truncated": good + second[:-3],
        "flipped": good + second[:len(second) // 2] + bytes([second[len(second) // 2] ^ 0x5A]) + second[len(second) // 2 + 1:],
        "binary_tail": good + b"\x00\x01\x02\xff\xfe",
        "truncated_skippable": good + struct.pack("<II", 0x184D2A50, 100) + b"short",
        "empty": b"",
    }[damage]
    decoded = o.decode_partial(put(tmp_path, blob))
    assert decoded.problem == problem, decoded.detail
    assert decoded.content.startswith(b"" if damage == "empty" else BODY) and decoded.detail
    assert o.decode_partial(put(tmp_path, good + second)) == o.Decoded(BODY + b"second frame\n")


def test_truncation_detected_across_read_chunks(tmp_path):
    data = os.urandom(3 << 20)  # incompressible: the frame spans several 1 MiB reads
    blob = zstandard.ZstdCompressor(level=1, write_checksum=True).compress(data)
    assert o.decode_zst(put(tmp_path, blob)) == data
    with pytest.raises(o.OracleCorrupt):
        o.decode_zst(put(tmp_path, blob[: len(blob) - 100_000]))


def test_encode_zst_is_readable_by_others(tmp_path):
    for frames, skippable in ((1, False), (3, False), (2, True)):
        blob = o.encode_zst(BODY, frames, skippable)
        path = put(tmp_path, blob)
        infos = o.frame_info(path)
        data = [f for f in infos if not f.skippable]
        assert len(data) == frames and len(infos) == frames + (frames + 1) * skippable
        assert all(f.has_checksum and f.content_size is not None for f in data)
        assert sum(f.content_size for f in data) == len(BODY)
        assert zstandard.ZstdDecompressor().decompressobj(read_across_frames=True).decompress(blob) == BODY
        if ZSTD:
            out = subprocess.run([ZSTD, "-q", "-dc", str(path)], check=True, capture_output=True).stdout
            assert out == BODY


# --- writers and inspectors ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o644])
def test_writers_set_exact_mode_and_mtime_whatever_the_umask(tmp_path, mode):
    old = os.umask(0o277)
    try:
        rel = o.active_path(NAME)
        o.write_plain(tmp_path, rel, BODY, mode, 1_735_905_600_123_456_789)
        o.write_plain(tmp_path, rel, BODY, mode, 1_735_905_600_123_456_789)  # rewrite over a 0400 file
        o.write_zst(tmp_path, rel + ".zst", BODY, mode, 1_735_905_600_987_654_321)
    finally:
        os.umask(old)
    for r, mtime in ((rel, 1_735_905_600_123_456_789), (rel + ".zst", 1_735_905_600_987_654_321)):
        st = os.stat(tmp_path / r)
        assert (stat.S_IMODE(st.st_mode), st.st_mtime_ns) == (mode, mtime)
    assert (tmp_path / rel).read_bytes() == BODY
    assert o.decode_zst(tmp_path / (rel + ".zst")) == BODY


def test_backdate(tmp_path):
    o.write_plain(tmp_path, "f.jsonl", b"")
    assert o.backdate(tmp_path, "f.jsonl", 8, now_ns=10**19) == 10**19 - 8 * 86_400 * 10**9
    assert os.stat(tmp_path / "f.jsonl").st_mtime_ns == 10**19 - 8 * 86_400 * 10**9
    assert o.backdate(tmp_path, "f.jsonl", 1, now_ns=10**19, seconds=1.5) == 10**19 - 86_400 * 10**9 - 1_500_000_000
    with pytest.raises(FileNotFoundError):
        o.backdate(tmp_path, "gone.jsonl", seconds=1)


def test_age_temps_backdates_every_temp_and_only_temps(tmp_path):
    rel = o.active_path(NAME)
    o.write_plain(tmp_path, rel, BODY)
    temps = [rel + ".zst.compress.1.0.tmp", f"archived_sessions/{NAME}.materialize.1.0.tmp"]
    for temp in temps:
        o.write_plain(tmp_path, temp, b"x")
    outside = tmp_path.parent / (tmp_path.name + "-target")
    outside.write_bytes(b"not ours")
    os.symlink(outside, tmp_path / "sessions" / "link.tmp")
    before = os.stat(outside).st_mtime_ns
    o.write_plain(tmp_path, ".tmp/elsewhere.tmp", b"x")  # not under sessions/ or archived_sessions/: no temp
    assert o.age_temps(tmp_path) == sorted(temps + ["sessions/link.tmp"])
    for temp in temps:
        assert time.time_ns() - os.stat(tmp_path / temp).st_mtime_ns >= o.STALE_TEMP_AGE * 10**9
    assert time.time_ns() - os.stat(tmp_path / rel).st_mtime_ns < 3600 * 10**9
    assert time.time_ns() - os.stat(tmp_path / ".tmp/elsewhere.tmp").st_mtime_ns < 3600 * 10**9
    assert os.stat(outside).st_mtime_ns == before  # the link is aged, never what it points at


def test_snapshot_representations_and_logical_content(tmp_path):
    rel = o.active_path(NAME)
    o.write_zst(tmp_path, rel + ".zst", BODY)
    assert o.representations(tmp_path, rel) == (rel + ".zst",)
    assert o.logical_content(tmp_path, rel) == BODY
    o.write_plain(tmp_path, rel, BODY + b"more\n")
    assert o.representations(tmp_path, rel) == (rel, rel + ".zst")
    assert o.logical_content(tmp_path, rel) == BODY + b"more\n"  # plain wins
    assert o.logical_content(tmp_path, "sessions/none.jsonl") is None
    o.write_plain(tmp_path, rel + ".zst.compress.1.0.tmp", b"x")
    o.write_plain(tmp_path, "archived_sessions/bad.jsonl.zst", b"not zstd")
    outside = tmp_path.parent / (tmp_path.name + "-target")
    outside.write_bytes(b"secret")
    os.symlink(outside, tmp_path / "sessions" / "link.jsonl")
    os.symlink(tmp_path.parent, tmp_path / "sessions" / "dirlink")

    snap = o.snapshot(tmp_path)
    assert set(snap) == {rel, rel + ".zst", rel + ".zst.compress.1.0.tmp", "archived_sessions/bad.jsonl.zst",
                         "sessions/link.jsonl", "sessions/dirlink"}
    zst = snap[rel + ".zst"]
    assert (zst.kind, zst.decoded_sha256, zst.whole_lines) == ("zst", hashlib.sha256(BODY).hexdigest(), True)
    assert snap[rel].kind == "plain" and snap[rel].sha256 == hashlib.sha256(BODY + b"more\n").hexdigest()
    assert snap[rel].ino == os.stat(tmp_path / rel).st_ino and snap[rel].mode == 0o600
    assert snap["archived_sessions/bad.jsonl.zst"].decoded_sha256 is None
    assert snap["sessions/link.jsonl"].kind == "other" and snap["sessions/link.jsonl"].sha256 is None
    assert snap["sessions/dirlink"].kind == "other"
    assert o.temps(tmp_path) == [rel + ".zst.compress.1.0.tmp"]


def test_demo_home_is_deterministic(tmp_path):
    now = 1_800_000_000 * 10**9
    a, b = homegen.demo_home(tmp_path / "a", 60, seed=3, now_ns=now), homegen.demo_home(tmp_path / "b", 60, seed=3, now_ns=now)
    assert a.rollouts == b.rollouts and a.temps == b.temps
    sa, sb = o.snapshot(a.home), o.snapshot(b.home)
    assert {k: (v.sha256, v.mode, v.mtime_ns) for k, v in sa.items()} == \
           {k: (v.sha256, v.mode, v.mtime_ns) for k, v in sb.items()}
    assert {r.mode for r in a.rollouts} <= {0o600, 0o400, 0o644}
    for r in a.rollouts:
        phys = r.logical + ".zst" if r.compressed else r.logical
        assert sa[phys].mode == r.mode and sa[phys].mtime_ns == r.mtime_ns
        assert hashlib.sha256(o.logical_content(a.home, r.logical)).hexdigest() == r.sha256
    assert sorted(t for t, _ in a.temps) == o.temps(a.home)


def test_demo_home_default_mix(tmp_path):
    m = homegen.demo_home(tmp_path)
    assert len(m.rollouts) == 300
    assert any(r.archived for r in m.rollouts) and any(not r.archived for r in m.rollouts)
    assert any(r.compressed for r in m.rollouts) and any(not r.old for r in m.rollouts)
    assert {r.mode for r in m.rollouts} == {0o600, 0o400, 0o644}
    for marker in (".jsonl.zst.compress.", ".jsonl.materialize.", ".jsonl.tmp"):
        assert {stale for t, stale in m.temps if marker in t} == {True, False}
