"""The reference's zstd walker decodes exactly what zstd decodes, rejects every truncation, and
keeps memory bounded on files that compress by orders of magnitude."""

from __future__ import annotations

import os
import tracemalloc

import pytest
import zstandard
from hypothesis import given, settings, strategies as st

from conformance.oracle import disk as oracle
from reference import codec
from conformance.api.errors import CorruptError


def _decode(path) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return b"".join(codec.decoded_chunks(fd, str(path)))
    finally:
        os.close(fd)


@settings(max_examples=60, deadline=None)
@given(
    pieces=st.lists(st.binary(max_size=3000) | st.just(b"x" * 300_000), min_size=1, max_size=4),
    skippable=st.booleans(),
    level=st.sampled_from([1, 3, 19]),
)
def test_decodes_what_zstd_decodes(tmp_path_factory, pieces, skippable, level):
    frames = b""
    for piece in pieces:
        if skippable:
            frames += oracle.skippable_frame(b"meta")
        frames += zstandard.ZstdCompressor(level=level, write_checksum=True).compress(piece)
    path = tmp_path_factory.mktemp("z") / "f.zst"
    path.write_bytes(frames)
    assert _decode(path) == b"".join(pieces)


def test_every_truncation_is_corrupt(tmp_path):
    data = oracle.encode_zst(oracle.user_message_line("hello") * 500, frames=2, skippable=True)
    for cut in range(1, len(data)):
        path = tmp_path / f"cut{cut}.zst"
        path.write_bytes(data[:cut])
        if cut in _frame_boundaries(data):
            continue  # a whole number of frames is a valid (shorter) file
        with pytest.raises(CorruptError):
            _decode(path)


def _frame_boundaries(data: bytes) -> set[int]:
    """Offsets where a frame (data or skippable) ends."""
    ends, offset = set(), 0
    while offset < len(data):
        if data[offset : offset + 4] == b"\x28\xb5\x2f\xfd":
            frame = zstandard.ZstdDecompressor().decompressobj()
            frame.decompress(data[offset:])
            offset = len(data) - len(frame.unused_data)
        else:
            offset += 8 + int.from_bytes(data[offset + 4 : offset + 8], "little")
        ends.add(offset)
    return ends


def test_memory_stays_bounded_on_a_highly_compressible_file(tmp_path):
    path = tmp_path / "big.zst"
    path.write_bytes(zstandard.ZstdCompressor(level=3).compress(b"\n" * (200 << 20)))
    tracemalloc.start()
    fd = os.open(path, os.O_RDONLY)
    try:
        total = 0
        for chunk in codec.decoded_chunks(fd):
            total += len(chunk)
            del chunk
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        os.close(fd)
        tracemalloc.stop()
    assert total == 200 << 20
    assert peak < 16 << 20, f"decoding 200 MiB of newlines peaked at {peak >> 20} MiB"
