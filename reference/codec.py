"""zstd for rollouts: streaming decode of every frame, encode with checksum and content size.

Memory stays bounded by the chunk size whatever the file size: nothing here reads a whole file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import zstandard

from .errors import CorruptError

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


def decoded_chunks(fd: int, path: str | None = None) -> Iterator[bytes]:
    """Yield the decoded bytes of every frame in ``fd``; skippable frames yield nothing.

    Raises CorruptError on bad data and on a truncated last frame, which the ``zstandard``
    stream reader would otherwise end silently.
    """
    dctx = zstandard.ZstdDecompressor()
    frame = dctx.decompressobj()
    fed = False
    try:
        for chunk in read_chunks(fd):
            pending = chunk
            while pending:
                fed = True
                out = frame.decompress(pending)
                if out:
                    yield out
                if not frame.eof:
                    break
                pending = frame.unused_data
                frame = dctx.decompressobj()
                fed = False
    except zstandard.ZstdError as exc:
        raise CorruptError(f"zstd data does not decode: {exc}", path=path) from None
    if fed and not frame.eof:
        raise CorruptError("zstd data ends inside a frame (truncated file)", path=path)


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
