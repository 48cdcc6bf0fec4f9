"""The fast paths of discovery give exactly the answers of the straightforward code they replace."""

from __future__ import annotations

import os
import tempfile

from hypothesis import given, settings, strategies as st

from reference import codec

from reference.naming import parse_name, rollout_id
from conformance.api.errors import InvalidNameError
from reference.reading import byte_chunks, lines_of, matching_line_numbers, matching_lines_in, open_representation

PIECES = st.sampled_from([b"\n", b"ab", b"NEEDLE", b"NEE", b"DLE", b"", b"x\ny", b"\n\n", b"NEEDLE\n"])


@settings(max_examples=300, deadline=None)
@given(chunks=st.lists(st.lists(PIECES, max_size=6).map(b"".join), max_size=8),
       needle=st.sampled_from([b"NEEDLE", b"a", b"\n", b"", b"x\ny"]))
def test_matching_line_numbers_agrees_with_splitting_every_line(chunks: list[bytes], needle: bytes) -> None:
    expected = [number for number, (line, _complete) in enumerate(lines_of(iter(chunks)), start=1) if needle in line]
    assert matching_line_numbers(iter(chunks), needle) == expected


@settings(max_examples=100, deadline=None)
@given(body=st.lists(PIECES, max_size=12).map(b"".join), needle=st.sampled_from([b"NEEDLE", b"a", b"\n", b"", b"x\ny"]),
       size=st.sampled_from([0, codec.CHUNK - 3, codec.CHUNK, 2 * codec.CHUNK + 5]))
def test_matching_lines_in_a_real_file_agrees_with_streaming_it(body: bytes, needle: bytes, size: int) -> None:
    # size: padding before the body, so the whole-file read of a small file and the chunked read of a
    # big one (and the sizes at the border between them) are both checked against the streaming path
    data = b"x" * size + body
    with tempfile.TemporaryDirectory() as folder:
        plain = os.path.join(folder, "r.jsonl")
        with open(plain, "wb") as file:
            file.write(data)
        opened = open_representation(plain, "r.jsonl")
        try:
            assert matching_lines_in(opened, needle) == matching_line_numbers(byte_chunks(opened), needle)
        finally:
            os.close(opened.fd)


UUID = "0199a213-81c0-7800-8aa1-bbab2a035a53"
NAMES = st.sampled_from([
    f"rollout-2025-01-03T12-00-00-{UUID}.jsonl", f"rollout-2025-01-03T12-00-00-{UUID.upper()}.jsonl",
    f"rollout-2025-01-03T12-00-00-{UUID}.jsonl.zst", f"rollout-2025-01-03T12-00-00-{UUID}.jsonl.tmp",
    f"rollout-2025-01-0312-00-00-{UUID}.jsonl", f"rollout-x-{UUID}.jsonl", f"rollout-{UUID}.jsonl",
    f"rollout-2025-01-03T12-00-00-{UUID[:-1]}g.jsonl", f"rollout-2025-01-03T12-00-00_{UUID}.jsonl",
    "rollout-.jsonl", "notes.txt", f"rollout-2025-01-03T12-00-00-{UUID}.json",
])


@given(name=st.one_of(NAMES, st.text(max_size=80)))
def test_rollout_id_is_parse_name_without_the_exception(name: str) -> None:
    try:
        expected = parse_name(name).id
    except InvalidNameError:
        expected = None
    logical = name[: -len(".zst")] if name.endswith(".jsonl.zst") else name
    assert rollout_id(logical) == expected
