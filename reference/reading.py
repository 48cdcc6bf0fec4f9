"""Reading a logical rollout: plain wins, `.zst` is the fallback, transitions are retried."""

from __future__ import annotations

import json
import stat
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

from reference import codec
from conformance.api.errors import NotARolloutError, NotFoundError
from reference.home import Location
from reference.locks import open_existing
from reference.naming import ZST_SUFFIX

READ_ATTEMPTS = 3
RETRY_DELAY = 0.05
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Opened:
    """An open handle on the selected representation of a rollout."""

    fd: int
    path: str
    compressed: bool
    stat: os.stat_result


def open_selected(location: Location) -> Opened:
    """Open plain if it exists, else the `.zst`; retry the pair when both vanish mid-transition."""
    return open_representation(location.plain, location.rel)


def open_representation(plain: str, rel: str) -> Opened:
    """:func:`open_selected` by the plain path (absolute) and the logical path (for the error) alone."""
    for attempt in range(READ_ATTEMPTS):
        for path, compressed in ((plain, False), (plain + ZST_SUFFIX, True)):
            fd = open_existing(path, os.O_RDONLY)
            if fd is None:
                continue
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode):
                return Opened(fd, path, compressed, st)
            os.close(fd)  # a folder (or device) named like a rollout is not a representation (NAME-005)
        if attempt + 1 < READ_ATTEMPTS:
            time.sleep(RETRY_DELAY)
    raise NotFoundError("no plain or compressed representation of this rollout", path=rel)


def byte_chunks(opened: Opened) -> Iterator[bytes]:
    """The logical bytes of an opened representation, streamed."""
    if opened.compressed:
        yield from codec.decoded_chunks(opened.fd, opened.path)
    else:
        offset = 0
        while chunk := os.pread(opened.fd, codec.CHUNK, offset):
            offset += len(chunk)
            yield chunk


def matching_lines_in(opened: Opened, needle: bytes) -> list[int]:
    """:func:`matching_line_numbers` of an opened representation."""
    if not opened.compressed and opened.stat.st_size < codec.CHUNK:
        # A small plain file (most rollouts a search meets) in one read, ruled out by one scan for
        # the needle when it is absent; a second read catches what was appended since the fstat.
        data = os.pread(opened.fd, codec.CHUNK, 0)
        if len(data) < codec.CHUNK and not os.pread(opened.fd, 1, len(data)):
            return matching_line_numbers(iter((data,)), needle) if needle in data else []
    return matching_line_numbers(byte_chunks(opened), needle)


def lines_of(chunks: Iterator[bytes]) -> Iterator[tuple[bytes, bool]]:
    """Split into ``(line, complete)``: complete lines without their ``\\n``; a torn tail last."""
    # Pieces of the current line are joined once, so a line of many MB costs one copy.
    pieces: list[bytes] = []
    for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            pieces.append(chunk[start:end])
            yield b"".join(pieces), True
            pieces = []
            start = end + 1
        if start < len(chunk):
            pieces.append(chunk[start:])
    if pieces:
        yield b"".join(pieces), False


def matching_line_numbers(chunks: Iterator[bytes], needle: bytes) -> list[int]:
    """1-based numbers of the lines, as :func:`lines_of` splits them, that contain ``needle``."""
    # Search is dominated by rollouts without a hit: a block of whole lines is scanned once for the
    # needle and only split into lines when it holds it; otherwise its newlines are just counted.
    numbers: list[int] = []
    first_line = 1  # number of the line the next block starts with
    pieces: list[bytes] = []  # the unfinished line carried over from earlier chunks
    for chunk in chunks:
        last = chunk.rfind(b"\n")
        if last == -1:
            if chunk:
                pieces.append(chunk)
            continue
        block = chunk[: last + 1]
        if pieces:
            block = b"".join([*pieces, block])
        pieces = [chunk[last + 1 :]] if last + 1 < len(chunk) else []
        if needle in block:
            lines = block.split(b"\n")
            numbers.extend(first_line + index for index in range(len(lines) - 1) if needle in lines[index])
        first_line += block.count(b"\n")
    if pieces and needle in b"".join(pieces):
        numbers.append(first_line)  # the torn tail is a line too
    return numbers


BLANK = b" \t\r"  # the bytes a blank line may hold (READ-007)


def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON (RFC 8259)")


def parse_line(line: bytes, first: bool) -> dict | None:
    """A JSON object, or None for junk (invalid UTF-8, not JSON, not an object)."""
    if first and line.startswith(BOM):
        line = line[len(BOM) :]
    try:
        # Decode strictly as UTF-8 first: json.loads(bytes) would also accept UTF-16/32 lines and a
        # BOM on any line, which are not JSON objects of a UTF-8 JSON Lines file (READ-007, READ-009).
        value = json.loads(line.decode("utf-8"), parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: nested deeper than the parser goes; a parse error, never a failed read
        # (READ-007 lets a reader bound the depth, as serde_json does at 128).
        return None
    return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class LineCounts:
    items: int
    parse_errors: int


def count_lines(chunks: Iterator[bytes], sink: list[bytes] | None = None) -> LineCounts:
    """Count items and parse errors (a torn tail is one error); keep the raw bytes in ``sink``."""
    items = errors = 0

    def tee() -> Iterator[bytes]:
        for chunk in chunks:
            if sink is not None:
                sink.append(chunk)
            yield chunk

    for number, (line, complete) in enumerate(lines_of(tee())):
        if not line.strip(BLANK):
            continue  # blank: counts in neither (READ-007); \x0b, \x0c and the like are not blank
        if complete and parse_line(line, number == 0) is not None:
            items += 1
        else:
            errors += 1
    return LineCounts(items, errors)


def session_meta(chunks: Iterator[bytes], path: str) -> dict:
    """The first session_meta payload, skipping blank, junk and event lines before it."""
    for number, (line, complete) in enumerate(lines_of(chunks)):
        value = parse_line(line, number == 0) if complete else None
        if value is None:
            continue
        kind = value.get("type")
        if kind == "session_meta":
            payload = value.get("payload")
            if isinstance(payload, dict):
                return payload
        elif kind == "response_item":
            raise NotARolloutError("rollout does not start with session metadata", path=path)
    raise NotARolloutError("rollout is empty: no session metadata line", path=path)
