"""Hypothesis strategies for rollout content, over the whole space JSON and the format allow.

Contract: every strategy here generates *bytes a rollout may hold*, including what a careless line
splitter gets wrong: characters JSON allows raw inside strings that ``str.splitlines`` and friends
treat as line breaks (U+2028, U+2029, U+0085), control characters raw in junk lines (\\x0b, \\x0c,
\\x1c-\\x1e, a lone \\r), blank and whitespace lines, empty lines between hits, long lines, invalid
UTF-8 and torn tails.  The suite, the state machine and the fixtures generator draw from here; the
oracle (``conformance.oracle.disk``) judges what a store must answer.
"""

from __future__ import annotations

import json

from hypothesis import strategies as st

#: Line-break-like characters JSON allows raw inside a string.
RAW_IN_STRINGS = ("\u2028", "\u2029", "\u0085")
#: Bytes some splitters break lines on, legal only in a junk (non-JSON) line.
RAW_IN_JUNK = (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\r")

#: Characters drawn often in message text: the raw line-break-likes, multi-byte ones, JSON's escapes.
FAVOURED_CHARACTERS = RAW_IN_STRINGS + ("\u00e9", "\u4e2d", "\U0001f600", "x", " ", '"', "\\")
#: Pieces of junk lines and of blank lines (see :func:`junk_line_of`, :func:`blank_line_of`).
JUNK_PIECES = RAW_IN_JUNK + (b"junk", b"\xff\xfe")
BLANK_PIECES = (b" ", b"\t", b"\r")
#: Complete lines that look like JSON objects to a lenient parser but are not one.
NOT_OBJECTS = (b'{"a": NaN}\n', b"[1, 2]\n", b'"just a string"\n', b"{not json}\n", b"\xc3\x28\n")


def message_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Text for a JSON string: any UTF-8 character but ``\\n``; half the draws hold a raw line-break-like
    character (left to chance, a character drawn from all of Unicode seldom is one)."""
    half = max_size // 2
    text = st.text(st.one_of(st.sampled_from(FAVOURED_CHARACTERS),
                             st.characters(codec="utf-8", exclude_characters="\n")), max_size=half)
    return st.one_of(text, st.builds(lambda before, raw, after: before + raw + after,
                                     text, st.sampled_from(RAW_IN_STRINGS), text))


def object_line(text: str, n: int, type_: str = "event_msg") -> bytes:
    """One JSON object line with ``text`` raw inside a string (non-ASCII kept as UTF-8), plus ``\\n``."""
    return (json.dumps({"type": type_, "payload": {"message": text, "n": n}}, ensure_ascii=False) + "\n").encode()


def junk_line_of(pieces: list[bytes]) -> bytes:
    """A junk line made of ``pieces`` (of :data:`JUNK_PIECES`), plus ``\\n``."""
    return b"".join(pieces) + b"\n"


def blank_line_of(pieces: list[bytes]) -> bytes:
    """A blank line made of ``pieces`` (of :data:`BLANK_PIECES`, maybe none), plus ``\\n``."""
    return b"".join(pieces) + b"\n"


def json_object_line(marker: st.SearchStrategy[str] | None = None, type_: str = "event_msg"
                     ) -> st.SearchStrategy[bytes]:
    """One JSON object line (with its ``\\n``), strings carrying raw line-break-like characters."""
    marker = marker if marker is not None else st.just("")
    return st.builds(lambda m, text, n: object_line(m + text, n, type_),
                     marker, message_text(), st.integers(-(2**53), 2**53))


def junk_line() -> st.SearchStrategy[bytes]:
    """A complete line that is not a JSON object: raw control bytes, invalid UTF-8, NaN, arrays."""
    return st.one_of(st.builds(junk_line_of, st.lists(st.sampled_from(JUNK_PIECES), min_size=1, max_size=6)),
                     st.sampled_from(NOT_OBJECTS))


def blank_line() -> st.SearchStrategy[bytes]:
    """Empty, or spaces, tabs and carriage returns only: counts in neither (READ-007)."""
    return st.builds(blank_line_of, st.lists(st.sampled_from(BLANK_PIECES), max_size=4))


def long_line(size: int = 200_000) -> st.SearchStrategy[bytes]:
    """One JSON object line of about ``size`` characters (up to 3 bytes each), kept raw: a reader with
    a fixed line buffer, or a splitter breaking on U+2028, sees it in pieces."""
    return st.builds(lambda c: object_line(c * size, size), st.sampled_from(["a", "\u2028", "\u00e9"]))


def body_lines(marker: st.SearchStrategy[str] | None = None, max_lines: int = 12) -> st.SearchStrategy[list[bytes]]:
    """The lines after the header: objects, junk and blank lines in any order."""
    return st.lists(st.one_of(json_object_line(marker), json_object_line(marker), junk_line(), blank_line()),
                    max_size=max_lines)


def torn_tail() -> st.SearchStrategy[bytes]:
    """Nothing, or a final fragment without ``\\n`` (valid JSON or not)."""
    return st.one_of(st.just(b""), st.sampled_from([b'{"type":"event_msg","payload":{}}', b'{"type":"ev', b"\xff"]))


def rollout_content(header: bytes, marker: st.SearchStrategy[str] | None = None,
                    long_lines: bool = False) -> st.SearchStrategy[bytes]:
    """``header`` (a session_meta line) followed by generated lines and maybe a torn tail."""
    lines = body_lines(marker)
    if long_lines:
        lines = st.builds(lambda body, big: body + [big], lines, long_line())
    return st.builds(lambda body, tail: header + b"".join(body) + tail, lines, torn_tail())


def header_content(meta: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Content around a ``session_meta`` line drawn from ``meta``: maybe a BOM, then lines ``header``
    skips (blank, junk, ``event_msg``), then in half the draws the ``session_meta`` alone, else a
    ``response_item`` before it or no ``session_meta`` at all (READ-011, READ-012), then any body and tail."""
    skipped = st.lists(st.one_of(blank_line(), junk_line(), json_object_line()), max_size=5)
    item = json_object_line(type_="response_item")
    return st.builds(lambda bom, before, shape, first, head, body, tail: bom + b"".join(before)
                     + _HEAD_SHAPES[shape](first, head) + b"".join(body) + tail,
                     st.sampled_from([b"", b"\xef\xbb\xbf"]), skipped, st.sampled_from(sorted(_HEAD_SHAPES)),
                     item, meta, body_lines(max_lines=4), torn_tail())


#: How the lines after the skipped ones start: the header alone (twice as likely), a response_item
#: before it (not a rollout), or no header at all (not a rollout).
_HEAD_SHAPES = {"meta": lambda item, meta: meta, "meta again": lambda item, meta: meta,
                "item first": lambda item, meta: item + meta, "no meta": lambda item, meta: b""}


def zst_layout() -> st.SearchStrategy[tuple[int, bool]]:
    """``(frames, skippable)`` for ``oracle.encode_zst``: one or several frames, skippable ones or not."""
    return st.tuples(st.integers(1, 4), st.booleans())
