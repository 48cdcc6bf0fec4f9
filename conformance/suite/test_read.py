"""READ: reading a rollout's content and header, in either representation, through transitions.

Verdicts come from the disk (conformance.oracle.disk, the fixture corpus's hand-written expectations),
never from the store's own code.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import fixtures
from conformance.oracle import disk as oracle
from conformance.suite import kit


def _only(case: fixtures.Case) -> str:
    """The logical path of a single-rollout case."""
    (rel,) = case.expected["rollouts"]
    return rel


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _same_home(home: Path, before: dict) -> None:
    after = oracle.snapshot(home)
    assert after == before, "a read-only operation changed the home"


# Cases whose single rollout reads; the expectation (sha, items, parse errors, representation)
# was written by hand in fixtures/generate.py.
READABLE = [
    "plain_rollout",
    "compressed_rollout",
    "multi_frame_zst",
    "skippable_frame_zst",
    "torn_last_line",
    "no_final_newline",
    "bom",
    "invalid_utf8_tail",
    "ff_tail_plain",
    "ff_tail_zst",
    "header_junk_first",
    "response_item_first",
    "both_equal",
    "both_diverged",
    "both_stale_zst",
]


# --- READ-001: plain wins -----------------------------------------------------------------------


@pytest.mark.req("READ-001")
@pytest.mark.parametrize("case_name", ["both_equal", "both_diverged", "both_stale_zst"])
def test_plain_wins_when_both_exist(store, home, case_name):
    """Upstream case 6: with both representations, read and header use the plain file."""
    case = fixtures.install(case_name, home)
    rel = _only(case)
    plain = (home / rel).read_bytes()
    for path in (rel, rel + ".zst"):
        result = store.read(path)
        assert result.representation == "plain", f"read({path}) did not select the plain file"
        assert result.physical_path == rel
        assert result.content == plain, f"read({path}) did not return the plain bytes"
    assert store.header(rel)["id"] == case.expected["rollouts"][rel]["id"]


@pytest.mark.req("READ-001")
def test_header_and_search_use_plain_when_both_exist(store, home):
    """Header and search see only the plain file's lines when a (diverged) .zst sits next to it."""
    r = kit.make_rollout(home)
    zst_data = oracle.session_meta_line(r.id, cwd="/from/the/zst") + oracle.user_message_line("needle-only-in-zst")
    oracle.write_zst(home, r.zst, zst_data)
    oracle.write_plain(home, r.rel, oracle.session_meta_line(r.id, cwd="/from/the/plain")
                       + oracle.user_message_line("needle-only-in-plain"))
    assert store.header(r.rel)["cwd"] == "/from/the/plain"
    assert store.header(r.zst)["cwd"] == "/from/the/plain"
    assert store.search("needle-only-in-zst") == [], "search read the .zst although a plain file exists"
    hits = store.search("needle-only-in-plain")
    assert [(h.path, h.line_number) for h in hits] == [(r.rel, 2)]


# --- READ-002: compressed-only rollouts -----------------------------------------------------------


@pytest.mark.req("READ-002", "READ-003")
def test_compressed_rollout_loads_through_logical_path(store, home):
    """Upstream case 1: a compressed-only rollout loads through its plain path: right id, 0 errors,
    2 items; afterwards the plain file is still absent and the .zst still present."""
    r = kit.make_rollout(home, compressed=True, old=True)
    before = oracle.snapshot(home)
    result = store.read(r.rel)
    assert result.content == r.data
    assert (result.items, result.parse_errors) == (2, 0)
    assert result.representation == "zst"
    assert result.physical_path == r.zst
    assert store.header(r.rel)["id"] == r.id
    assert not (home / r.rel).exists(), "reading materialized the rollout"
    assert (home / r.zst).is_file()
    _same_home(home, before)


@pytest.mark.req("READ-002")
@pytest.mark.parametrize("case_name", ["compressed_rollout", "multi_frame_zst", "skippable_frame_zst", "ff_tail_zst"])
def test_compressed_rollout_reads_through_both_paths(store, home, case_name):
    """Upstream case 1: logical and physical path give the decoded bytes, counted like plain bytes."""
    case = fixtures.install(case_name, home)
    rel = _only(case)
    want = case.expected["rollouts"][rel]
    decoded = oracle.decode_zst(home / (rel + ".zst"))
    for path in (rel, rel + ".zst"):
        result = store.read(path)
        assert result.representation == "zst"
        assert result.physical_path == rel + ".zst"
        assert result.content == decoded
        assert _sha(result.content) == want["content_sha256"]
        assert (result.items, result.parse_errors) == (want["items"], want["parse_errors"])
        assert (result.items, result.parse_errors) == oracle.line_counts(decoded)


@pytest.mark.req("READ-002", "READ-007", "READ-008")
@pytest.mark.parametrize("case_name", ["torn_last_line", "bom", "invalid_utf8_tail", "header_junk_first", "no_final_newline"])
def test_compressed_form_counts_like_plain_form(store, home, case_name):
    """The same bytes give the same items and parse errors whether plain or compressed."""
    case = fixtures.install(case_name, home)
    rel = _only(case)
    plain = store.read(rel)
    data = (home / rel).read_bytes()
    os.unlink(home / rel)
    oracle.write_zst(home, rel + ".zst", data)
    compressed = store.read(rel)
    assert compressed.representation == "zst"
    assert compressed.content == data
    assert (compressed.items, compressed.parse_errors) == (plain.items, plain.parse_errors)


# --- READ-003: reads change nothing -------------------------------------------------------------


@pytest.mark.req("READ-003")
def test_reader_operations_change_nothing(store, home):
    """Upstream cases 1 and 3: read, header, list, find and search leave every file as it was."""
    ids = []
    for name in ("plain_rollout", "compressed_rollout", "archived_rollouts", "temps_stale_and_fresh",
                 "both_equal", "ff_tail_zst", "bom", "torn_last_line"):
        case = fixtures.install(name, home)
        ids += list(case.expected["lookup"])
    old = kit.make_rollout(home, compressed=True, old=True)
    before = oracle.snapshot(home)
    rels = sorted(set(e.path for e in store.list()) | set(e.path for e in store.list(archived=True)))
    assert old.rel in rels
    for rel in rels:
        store.read(rel)
        store.read(rel + ".zst")
        store.header(rel)
    for ident in ids:
        store.find(ident)
    store.search("hello")
    store.search("needle-7f3a", archived=True)
    _same_home(home, before)
    assert oracle.temps(home) == sorted(p for p in before if oracle.is_temp(p))


@pytest.mark.req("READ-003", "READ-010")
def test_header_of_compressed_ff_tail_keeps_it_compressed(store, home):
    """Upstream case 3: the header of the compressed form reads and it stays compressed."""
    case = fixtures.install("ff_tail_zst", home)
    rel = _only(case)
    before = oracle.snapshot(home)
    assert store.header(rel)["id"] == case.expected["rollouts"][rel]["id"]
    assert store.header(rel + ".zst")["id"] == case.expected["rollouts"][rel]["id"]
    assert not (home / rel).exists()
    _same_home(home, before)


# --- READ-005: every frame ------------------------------------------------------------------------


@pytest.mark.req("READ-005")
@pytest.mark.parametrize("case_name", ["multi_frame_zst", "skippable_frame_zst"])
def test_every_frame_is_decoded(store, home, case_name):
    """Concatenated frames (split mid-line) and skippable frames: the content is every data frame."""
    case = fixtures.install(case_name, home)
    rel = _only(case)
    frames = oracle.frame_info(home / (rel + ".zst"))
    assert sum(not f.skippable for f in frames) >= 2
    result = store.read(rel)
    assert _sha(result.content) == case.expected["rollouts"][rel]["content_sha256"]
    assert result.items == case.expected["rollouts"][rel]["items"]


@pytest.mark.req("READ-005")
@pytest.mark.parametrize("frames", [1, 2, 5])
def test_skippable_frames_first_and_last_are_ignored(store, home, frames):
    """A skippable frame as the very first and the very last frame of the file is ignored."""
    r = kit.make_rollout(home, lines=6)
    os.unlink(home / r.rel)
    oracle.write_zst(home, r.zst, r.data, frames=frames, skippable=True)
    info = oracle.frame_info(home / r.zst)
    assert info[0].skippable and info[-1].skippable
    result = store.read(r.rel)
    assert result.content == r.data
    assert (result.items, result.parse_errors) == (7, 0)
    assert store.header(r.rel)["id"] == r.id


@pytest.mark.req("READ-005")
def test_many_small_frames_one_per_line(store, home):
    """A frame per line: a decoder that stops after the first frame sees only the header."""
    r = kit.make_rollout(home, lines=9)
    os.unlink(home / r.rel)
    lines = r.data.splitlines(keepends=True)
    cctx_frames = b"".join(oracle.encode_zst(line) for line in lines)
    oracle.write_plain(home, r.zst, cctx_frames)
    result = store.read(r.zst)
    assert result.content == r.data
    assert result.items == 10


# --- READ-006: content byte for byte --------------------------------------------------------------


@pytest.mark.req("READ-006")
@pytest.mark.parametrize("case_name", READABLE)
def test_content_is_every_byte(store, home, case_name):
    """The content is the selected representation's bytes exactly (BOM, invalid UTF-8, torn tail...)."""
    case = fixtures.install(case_name, home)
    rel = _only(case)
    want = case.expected["rollouts"][rel]
    result = store.read(rel)
    assert result.content == oracle.logical_content(home, rel)
    assert _sha(result.content) == want["content_sha256"]
    assert result.representation == want["representation"]


@pytest.mark.req("READ-006", "READ-007")
def test_odd_bytes_round_trip(store, home):
    """CRLF, raw and escaped NULs, empty lines, a BOM and a torn tail survive."""
    ident = kit.make_rollout(home).id
    rel = next(iter(store.list())).path
    data = (b"\xef\xbb\xbf" + oracle.session_meta_line(ident) + b"\n\n"
            + b'{"type":"event_msg","payload":{"message":"crlf"}}\r\n'
            + b'{"type":"event_msg","payload":{"message":"nul \\u0000"}}\n'
            + b"\x00\x01\x02\n" + b"\xc3\x28\n" + b'{"torn":')
    oracle.write_plain(home, rel, data)
    result = store.read(rel)
    assert result.content == data
    assert (result.items, result.parse_errors) == oracle.line_counts(data)


# --- READ-007 / READ-008: counting ----------------------------------------------------------------


@pytest.mark.req("READ-007", "READ-008")
@pytest.mark.parametrize("case_name", READABLE)
def test_items_and_parse_errors(store, home, case_name):
    """Counting rule: objects are items, other complete non-empty lines errors, a torn tail one error."""
    case = fixtures.install(case_name, home)
    rel = _only(case)
    want = case.expected["rollouts"][rel]
    result = store.read(rel)
    assert (result.items, result.parse_errors) == (want["items"], want["parse_errors"])


@pytest.mark.req("READ-007")
def test_json_that_is_not_an_object_is_a_parse_error(store, home):
    """Arrays, strings, numbers, null and true are JSON but not objects; empty lines count in neither."""
    r = kit.make_rollout(home)
    data = r.data + b'[1,2]\n"text"\n42\nnull\ntrue\n\n\n' + oracle.user_message_line("after") + b"{}\n"
    oracle.write_plain(home, r.rel, data)
    result = store.read(r.rel)
    assert (result.items, result.parse_errors) == (4, 5)
    assert result.content == data


@pytest.mark.req("READ-008")
@pytest.mark.parametrize("compressed", [False, True])
def test_torn_tail_that_is_valid_json_is_one_error(store, home, compressed):
    """A final fragment without \\n is one parse error even when it is a whole JSON object."""
    r = kit.make_rollout(home)
    data = r.data + oracle.user_message_line("complete but unterminated").rstrip(b"\n")
    os.unlink(home / r.rel)
    if compressed:
        oracle.write_zst(home, r.zst, data)
    else:
        oracle.write_plain(home, r.rel, data)
    result = store.read(r.rel)
    assert result.content == data
    assert (result.items, result.parse_errors) == (2, 1)


@pytest.mark.req("READ-008")
def test_torn_tail_of_only_a_header_fragment(store, home):
    """A rollout whose only content is a torn fragment reads: 0 items, 1 parse error."""
    r = kit.make_rollout(home)
    data = r.data[:40]
    oracle.write_plain(home, r.rel, data)
    result = store.read(r.rel)
    assert (result.items, result.parse_errors, result.content) == (0, 1, data)


# --- READ-009: BOM ----------------------------------------------------------------------------------


@pytest.mark.req("READ-009")
@pytest.mark.parametrize("compressed", [False, True])
def test_bom_is_skipped_for_parsing(store, home, compressed):
    """A leading BOM: the first line still counts as an item and header finds session_meta on it."""
    case = fixtures.install("bom", home)
    rel = _only(case)
    data = (home / rel).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    if compressed:
        os.unlink(home / rel)
        oracle.write_zst(home, rel + ".zst", data)
    result = store.read(rel)
    assert (result.items, result.parse_errors) == (2, 0)
    assert result.content == data, "the BOM must be kept in the content"
    assert store.header(rel)["id"] == case.expected["rollouts"][rel]["id"]


@pytest.mark.req("READ-009")
def test_bom_only_at_start_is_skipped(store, home):
    """A BOM at the start of a later line is not skipped: that line is a parse error."""
    r = kit.make_rollout(home)
    data = r.data + b"\xef\xbb\xbf" + oracle.user_message_line("bom in the middle")
    oracle.write_plain(home, r.rel, data)
    result = store.read(r.rel)
    assert (result.items, result.parse_errors) == (2, 1)


# --- READ-010: invalid UTF-8 ----------------------------------------------------------------------


@pytest.mark.req("READ-010")
@pytest.mark.parametrize("case_name", ["ff_tail_plain", "ff_tail_zst"])
def test_header_after_ff_tail(store, home, case_name):
    """Upstream cases 2 and 3: session_meta followed by 64 KiB of 0xFF: the header reads."""
    case = fixtures.install(case_name, home)
    rel = _only(case)
    want = case.expected["rollouts"][rel]
    header = store.header(rel)
    assert header["id"] == want["id"]
    result = store.read(rel)
    assert (result.items, result.parse_errors) == (want["items"], want["parse_errors"])


@pytest.mark.req("READ-010")
@pytest.mark.parametrize("compressed", [False, True])
def test_invalid_utf8_line_is_one_parse_error(store, home, compressed):
    """A complete line with invalid UTF-8 is a parse error; the read and the header succeed."""
    case = fixtures.install("invalid_utf8_tail", home)
    rel = _only(case)
    if compressed:
        data = (home / rel).read_bytes()
        os.unlink(home / rel)
        oracle.write_zst(home, rel + ".zst", data)
    want = case.expected["rollouts"][rel]
    result = store.read(rel)
    assert (result.items, result.parse_errors) == (want["items"], want["parse_errors"])
    assert store.header(rel)["id"] == want["id"]


@pytest.mark.req("READ-010", "READ-011")
def test_invalid_utf8_before_header(store, home):
    """Invalid UTF-8 lines before session_meta are skipped by header like any junk."""
    r = kit.make_rollout(home)
    oracle.write_plain(home, r.rel, b"\xff\xfe\xfd\n" + b"\xff" * 65536 + b"\n" + r.data)
    assert store.header(r.rel)["id"] == r.id


# --- READ-011 / READ-012: header --------------------------------------------------------------------


@pytest.mark.req("READ-011", "READ-003")
@pytest.mark.parametrize("compressed", [False, True])
def test_header_skips_junk_before_session_meta(store, home, compressed):
    """Upstream case 4: empty, non-JSON and event lines before session_meta are skipped."""
    case = fixtures.install("header_junk_first", home)
    rel = _only(case)
    if compressed:
        data = (home / rel).read_bytes()
        os.unlink(home / rel)
        oracle.write_zst(home, rel + ".zst", data)
    before = oracle.snapshot(home)
    header = store.header(rel)
    assert header["id"] == case.expected["rollouts"][rel]["id"]
    assert header["cwd"] == "/home/user/project"
    _same_home(home, before)


@pytest.mark.req("READ-011")
def test_header_is_the_first_session_meta_payload(store, home):
    """With two session_meta lines, header returns the payload of the first one, whole."""
    r = kit.make_rollout(home)
    first = oracle.session_meta_line(r.id, cwd="/first", forked_from_id="00000000-0000-4000-8000-000000000001")
    data = (b"[1]\n" + oracle.line("event_msg", {"type": "x"}) + first
            + oracle.session_meta_line(r.id, cwd="/second") + oracle.user_message_line("x"))
    oracle.write_plain(home, r.rel, data)
    header = store.header(r.rel)
    assert header["cwd"] == "/first"
    assert header["forked_from_id"] == "00000000-0000-4000-8000-000000000001"
    assert header["originator"] == "codex_cli_rs"


@pytest.mark.req("READ-012")
@pytest.mark.parametrize("case_name", ["response_item_first", "only_junk"])
@pytest.mark.parametrize("compressed", [False, True])
def test_header_not_a_rollout(store, home, case_name, compressed):
    """Upstream case 4: a response_item first, or only junk lines: header fails with not_a_rollout."""
    case = fixtures.install(case_name, home)
    rels = [rel for rel, want in case.expected["rollouts"].items() if want["header_error"] == "not_a_rollout"]
    assert rels
    for rel in rels:
        if compressed:
            data = (home / rel).read_bytes()
            os.unlink(home / rel)
            oracle.write_zst(home, rel + ".zst", data)
        before = oracle.snapshot(home)
        assert kit.error_kind(lambda: store.header(rel)) == "not_a_rollout"
        _same_home(home, before)
        store.read(rel)  # the content still reads: only the header is refused


@pytest.mark.req("READ-012")
@pytest.mark.parametrize("data", [b"", b"\n\n\n", b"garbage\n", oracle.user_message_line("no header"),
                                  oracle.session_meta_line("f1c5d7f2-1d4e-4b43-9d1b-2f6c1a0e9b11").rstrip(b"\n")],
                         ids=["empty", "blank-lines", "junk", "events-only", "torn-header"])
def test_header_of_content_without_session_meta(store, home, data):
    """No complete session_meta line at all (empty, blank, junk, events only, torn): not_a_rollout."""
    r = kit.make_rollout(home)
    oracle.write_plain(home, r.rel, data)
    assert kit.error_kind(lambda: store.header(r.rel)) == "not_a_rollout"


@pytest.mark.req("READ-012")
def test_response_item_after_header_is_fine(store, home):
    """Only a response_item *before* session_meta is refused; after it, the header reads."""
    r = kit.make_rollout(home)
    oracle.write_plain(home, r.rel, r.data + oracle.response_item_line("answer"))
    assert store.header(r.rel)["id"] == r.id


# --- SEC-004 on the read path ---------------------------------------------------------------------


@pytest.mark.req("SEC-004", "READ-003")
@pytest.mark.parametrize("case_name", ["symlink_file_escape", "symlink_dir_escape"])
def test_symlink_out_of_home_is_not_read(store, home, case_name):
    """A symlinked rollout file, or a symlinked folder leading out of the home: outside_home."""
    case = fixtures.install(case_name, home)
    outside = fixtures.outside_root(home)
    before, outside_before = oracle.snapshot(home), oracle.snapshot(outside)
    escaping = [rel for rel, want in case.expected["rollouts"].items() if want["error"] == "outside_home"]
    assert escaping
    for rel in escaping:
        for path in (rel, rel + ".zst"):
            assert kit.error_kind(lambda: store.read(path)) == "outside_home", f"read({path}) followed the symlink"
            assert kit.error_kind(lambda: store.header(path)) == "outside_home"
    _same_home(home, before)
    assert oracle.snapshot(outside) == outside_before


@pytest.mark.req("SEC-004")
@pytest.mark.parametrize("compressed", [False, True])
def test_symlinked_rollout_inside_home_is_not_opened(store, home, compressed):
    """A rollout file that is itself a symlink (even to another rollout of the home) is not opened."""
    target = kit.make_rollout(home, compressed=compressed)
    other = kit.make_rollout(home, minute=5)
    os.unlink(home / other.rel)
    link = other.zst if compressed else other.rel
    os.symlink(home / (target.zst if compressed else target.rel), home / link)
    assert kit.error_kind(lambda: store.read(other.rel)) == "outside_home"
    assert kit.error_kind(lambda: store.header(other.rel)) == "outside_home"
    assert os.path.islink(home / link)


@pytest.mark.req("READ-007")
def test_utf16_line_is_a_parse_error(store, home):
    """A line encoded as UTF-16 is valid UTF-8 (with NULs) but not a JSON object: a parse error."""
    r = kit.make_rollout(home)
    utf16 = '{"type":"event_msg","payload":{}}'.encode("utf-16-le")
    data = r.data + utf16 + b"\n"
    oracle.write_plain(home, r.rel, data)
    result = store.read(r.rel)
    assert (result.items, result.parse_errors) == (2, 1)
