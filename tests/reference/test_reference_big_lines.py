"""A 50 MB line goes through append, compression, read and materialize whole (issue: bad input)."""

from __future__ import annotations

import os
import uuid

from conformance.oracle import disk as oracle
from reference.store import ReferenceStore


def test_fifty_megabyte_line_round_trips(tmp_path):
    ident = str(uuid.uuid4())
    rel = f"sessions/2025/01/03/rollout-2025-01-03T12-00-00-{ident}.jsonl"
    store = ReferenceStore()
    store.configure(str(tmp_path), 0)
    header = oracle.session_meta_line(ident).decode().rstrip("\n")
    big = oracle.tool_output_line("call_1", "y" * (50 << 20)).decode().rstrip("\n")
    store.create(rel, [header])
    store.append(rel, [big])
    expected = (header + "\n" + big + "\n").encode()
    assert store.compress(rel) == "compressed"
    assert oracle.decode_zst(tmp_path / (rel + ".zst")) == expected
    result = store.read(rel)
    assert (result.content, result.items, result.parse_errors) == (expected, 2, 0)
    store.append(rel, [oracle.user_message_line("after").decode().rstrip("\n")])
    assert not os.path.exists(tmp_path / (rel + ".zst"))
    assert oracle.logical_content(tmp_path, rel) == expected + oracle.user_message_line("after")
