"""zstd for rollouts: streaming decode of every frame, encode with checksum and content size.

Memory stays bounded by the chunk size whatever the file size: nothing here reads a whole file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import zstandard

from conformance.api.errors import CorruptError

LEVEL = 3
CHUNK = 1 << 20
# Multi-threaded encoding pays off only on big inputs; small files stay single threaded so a
# worker compressing two files at once does not oversubscribe the cores.
THREADED_ABOVE = 8 << 20


def read_chunks(fd: int, start: int = 0, limit: int | None = None) -> Iterator[bytes]:
    offset, remaining = start, limit
    while remaining is None or remaining > 0:
        want = CHUNK if remaining is None else min(CHUNK, remaining)
        chunk = os.pread(fd, want, offset)
        if not chunk:
            return
        offset += len(chunk)
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


class _Cursor:
    """Sequential reads of ``fd`` through a window, so the walker never holds more than it needs."""

    def __init__(self, fd: int) -> None:
        self.fd, self.buffer, self.start, self.offset = fd, b"", 0, 0

    def has(self, n: int) -> bool:
        while len(self.buffer) - self.start < n:
            more = os.pread(self.fd, max(CHUNK, n), self.offset + len(self.buffer))
            if not more:
                return False
            self.buffer, self.offset = self.buffer[self.start :] + more, self.offset + self.start
            self.start = 0
        return True

    def peek(self, n: int) -> bytes:
        return self.buffer[self.start : self.start + n]

    def take(self, n: int) -> bytes:
        piece = self.peek(n)
        self.start += n
        return piece


_ZSTD_MAGIC = 0xFD2FB528
_SKIPPABLE_MASK, _SKIPPABLE_MAGIC = 0xFFFFFFF0, 0x184D2A50
# A zstd block decodes to at most 128 KiB: feeding the decoder this many whole blocks at a time
# bounds each output chunk to 1 MiB.  Feeding it raw 1 MiB reads instead would let a repetitive
# file (RLE blocks: 4 bytes in, 128 KiB out) decode to gigabytes in one call.
_BLOCKS_PER_CALL = 8
# Decompressors not in use.  Making one costs tens of microseconds (more than decoding a small
# rollout), so each decode borrows one and gives it back; list pop/append are atomic under the
# GIL, so threads never share one in flight.
_IDLE_DECOMPRESSORS: list[zstandard.ZstdDecompressor] = []


def decoded_chunks(fd: int, path: str | None = None) -> Iterator[bytes]:
    """Yield the decoded bytes of every frame in ``fd``; skippable frames yield nothing.

    Walks frame and block headers itself, so memory stays bounded whatever the compression ratio,
    and a truncated last frame is an error (the ``zstandard`` stream reader would end silently).
    Raises CorruptError on anything that is not a complete sequence of valid frames.
    """
    try:
        dctx = _IDLE_DECOMPRESSORS.pop()
    except IndexError:
        dctx = zstandard.ZstdDecompressor()
    try:
        yield from _decoded_frames(_Cursor(fd), dctx, path)
    finally:
        _IDLE_DECOMPRESSORS.append(dctx)


def _decoded_frames(cursor: _Cursor, dctx: zstandard.ZstdDecompressor, path: str | None) -> Iterator[bytes]:
    def corrupt(why: str) -> CorruptError:
        return CorruptError(f"zstd data does not decode: {why}", path=path)

    data_frames = 0
    while cursor.has(1):
        if not cursor.has(4):
            raise corrupt("file ends inside a frame magic number (truncated)")
        magic = int.from_bytes(cursor.peek(4), "little")
        if magic & _SKIPPABLE_MASK == _SKIPPABLE_MAGIC:
            if not cursor.has(8):
                raise corrupt("truncated skippable frame header")
            size = int.from_bytes(cursor.take(8)[4:], "little")
            while size:
                if not cursor.has(1):
                    raise corrupt("truncated skippable frame")
                size -= len(cursor.take(min(size, CHUNK)))
            continue
        if magic != _ZSTD_MAGIC:
            raise corrupt("not a zstd frame")
        if not cursor.has(5):
            raise corrupt("truncated frame header")
        descriptor = cursor.peek(5)[4]
        single_segment = (descriptor >> 5) & 1
        header = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[descriptor & 3]
        header += (single_segment, 2, 4, 8)[descriptor >> 6]
        checksum = 4 if descriptor & 4 else 0
        if not cursor.has(header):
            raise corrupt("truncated frame header")
        frame = dctx.decompressobj()
        pending, last = [cursor.take(header)], False
        while not last:
            if not cursor.has(3):
                raise corrupt("file ends inside a frame (truncated)")
            block = int.from_bytes(cursor.peek(3), "little")
            last, kind, size = bool(block & 1), (block >> 1) & 3, block >> 3
            if kind == 3:
                raise corrupt("reserved block type")
            total = 3 + (1 if kind == 1 else size) + (checksum if last else 0)
            if not cursor.has(total):
                raise corrupt("file ends inside a frame (truncated)")
            pending.append(cursor.take(total))
            if last or len(pending) > _BLOCKS_PER_CALL:
                try:
                    out = frame.decompress(b"".join(pending))
                except zstandard.ZstdError as exc:
                    raise corrupt(str(exc)) from None
                pending = []
                if out:
                    yield out
        if not frame.eof:
            raise corrupt("frame did not end where its last block says")
        data_frames += 1
    if not data_frames:
        # SPEC.md 4.4: a `.zst` holds one or more data frames; an empty file (or skippable frames
        # alone) is not a compressed rollout, whatever a lenient decoder makes of it (READ-013).
        raise corrupt("no zstd data frame (an empty file, or skippable frames only)")


class _Limited:
    """A file-like view of ``fd`` bytes [0, size): the encoder must not see later appends."""

    def __init__(self, fd: int, size: int) -> None:
        self._chunks = read_chunks(fd, 0, size)
        self._buffer = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buffer) < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if n < 0:
            n = len(self._buffer)
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out


def encode(src_fd: int, size: int, dst_fd: int) -> int:
    """Compress bytes [0, size) of ``src_fd`` into ``dst_fd``; return the compressed size."""
    threads = -1 if size > THREADED_ABOVE else 0
    cctx = zstandard.ZstdCompressor(
        level=LEVEL, write_checksum=True, write_content_size=True, threads=threads
    )
    with os.fdopen(os.dup(dst_fd), "wb", closefd=True) as sink:
        _, written = cctx.copy_stream(_Limited(src_fd, size), sink, size=size, read_size=CHUNK)
    return written


def same_bytes(zst_fd: int, plain_fd: int, size: int, path: str | None = None) -> bool:
    """True when ``zst_fd`` decodes to exactly bytes [0, size) of ``plain_fd``."""
    offset = 0
    for chunk in decoded_chunks(zst_fd, path):
        if offset + len(chunk) > size or os.pread(plain_fd, len(chunk), offset) != chunk:
            return False
        offset += len(chunk)
    return offset == size


def decode_into(zst_fd: int, dst_fd: int, path: str | None = None) -> int:
    """Decode every frame of ``zst_fd`` into ``dst_fd``; return the decoded size."""
    total = 0
    for chunk in decoded_chunks(zst_fd, path):
        view = memoryview(chunk)
        while view:
            written = os.write(dst_fd, view)
            view = view[written:]
        total += len(chunk)
    return total
