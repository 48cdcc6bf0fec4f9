"""Hypothesis strategies for rollout content, over the whole space JSON and the format allow.

Contract: every strategy here generates *bytes a rollout may hold*, including what a careless line
splitter gets wrong: characters JSON allows raw inside strings that ``str.splitlines`` and friends
treat as line breaks (U+2028, U+2029, U+0085), control characters raw in junk lines (\\x0b, \\x0c,
\\x1c-\\x1e, a lone \\r), blank and whitespace lines, empty lines between hits, long lines, invalid
UTF-8 and torn tails.  The suite, the state machine and the fixtures generator draw from here; the
oracle (``conformance.oracle``) judges what a store must answer.
"""

from __future__ import annotations

import json

from hypothesis import strategies as st

#: Line-break-like characters JSON allows raw inside a string.
RAW_IN_STRINGS = ("\u2028", "\u2029", "\u0085")
#: Bytes some splitters break lines on, legal only in a junk (non-JSON) line.
RAW_IN_JUNK = (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\r")

_text = st.text(
    st.one_of(st.sampled_from(RAW_IN_STRINGS + ("\u00e9", "\u4e2d", "\U0001f600", "x", " ", '"', "\\")),
              st.characters(codec="utf-8", exclude_characters="\n")),
    max_size=40,
)


def json_object_line(marker: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[bytes]:
    """One JSON object line (with its ``\\n``), strings carrying raw line-break-like characters."""
    marker = marker if marker is not None else st.just("")
    return st.builds(
        lambda m, text, n: (json.dumps({"type": "event_msg", "payload": {"message": m + text, "n": n}},
                                       ensure_ascii=False) + "\n").encode("utf-8"),
        marker, _text, st.integers(-(2**53), 2**53),
    )


def junk_line() -> st.SearchStrategy[bytes]:
    """A complete line that is not a JSON object: raw control bytes, invalid UTF-8, NaN, arrays."""
    return st.one_of(
        st.builds(lambda parts: b"".join(parts) + b"\n",
                  st.lists(st.one_of(st.sampled_from(RAW_IN_JUNK), st.just(b"junk"), st.just(b"\xff\xfe")),
                           min_size=1, max_size=6)),
        st.sampled_from([b'{"a": NaN}\n', b"[1, 2]\n", b'"just a string"\n', b"{not json}\n", b"\xc3\x28\n"]),
    )


def blank_line() -> st.SearchStrategy[bytes]:
    """Empty, or spaces, tabs and carriage returns only: counts in neither (READ-007)."""
    return st.builds(lambda parts: b"".join(parts) + b"\n",
                     st.lists(st.sampled_from([b" ", b"\t", b"\r"]), max_size=4))


def long_line(size: int = 200_000) -> st.SearchStrategy[bytes]:
    return st.builds(lambda c: (json.dumps({"type": "event_msg", "payload": {"big": c * size}}) + "\n").encode(),
                     st.sampled_from(["a", "\u2028", "\u00e9"]))


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


def zst_layout() -> st.SearchStrategy[tuple[int, bool]]:
    """``(frames, skippable)`` for ``oracle.encode_zst``: one or several frames, skippable ones or not."""
    return st.tuples(st.integers(1, 4), st.booleans())
