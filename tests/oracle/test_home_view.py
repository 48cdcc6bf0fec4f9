"""The race harness's home scan, built on the oracle's walk, names, temps and frames."""

from __future__ import annotations

import os

from conformance.oracle import disk as o
from conformance.oracle import home_view

UUID = "0199A213-81C0-7800-8AA1-BBAB2A035A53"
NAME = f"rollout-2025-01-03T12-00-00-{UUID}.jsonl"
BODY = o.session_meta_line(UUID.lower()) + o.user_message_line("hello")


def test_scan_finds_representations_and_temps_and_nothing_else(tmp_path):
    active, archived = o.active_path(NAME), o.archived_path(NAME)
    o.write_plain(tmp_path, active, BODY, mode=0o640)
    o.write_zst(tmp_path, archived + ".zst", BODY)
    o.write_plain(tmp_path, active + ".zst.compress.1.0.tmp", b"x")
    o.write_plain(tmp_path, "sessions/2025/01/03/notes.txt", b"x")
    o.write_plain(tmp_path, "sessions/2025/01/03/rollout-2025-01-03T12-00-00-not-a-uuid.jsonl", b"x")
    (tmp_path / "sessions" / "2025" / "01" / "03" / f"rollout-2025-01-03T12-00-01-{UUID}.jsonl").mkdir()
    os.symlink(tmp_path / active, tmp_path / "archived_sessions" / f"rollout-2025-01-03T12-00-02-{UUID}.jsonl")

    view = home_view.scan(str(tmp_path))
    assert view.temps == (active + ".zst.compress.1.0.tmp",)
    assert view.rollouts() == {UUID.lower()}  # the id matches case-insensitively (SPEC 4.2)
    plain, zst = sorted(view.of(UUID.lower()), key=lambda r: r.compressed)
    assert (plain.rel, plain.archived, plain.compressed, plain.mode) == (active, False, False, 0o640)
    assert (zst.rel, zst.archived, zst.compressed) == (archived + ".zst", True, True)
    assert home_view.visible(view.of(UUID.lower())) == plain  # active before archived, plain before .zst


def test_content_reads_plain_bytes_and_decodes_zst_as_far_as_it_goes(tmp_path):
    rel = o.active_path(NAME)
    o.write_plain(tmp_path, rel, BODY)
    o.write_plain(tmp_path, rel + ".zst", o.encode_zst(BODY) + b'{"raw":"line"}\n')
    plain, zst = sorted(home_view.scan(str(tmp_path)).representations, key=lambda r: r.compressed)
    assert home_view.content(str(tmp_path), plain) == o.Decoded(BODY)
    decoded = home_view.content(str(tmp_path), zst)
    assert (decoded.content, decoded.problem) == (BODY, "raw_bytes")


def test_manifest_describes_every_file(tmp_path):
    rel = o.active_path(NAME)
    o.write_plain(tmp_path, rel, BODY, mode=0o600)
    (row,) = home_view.manifest(str(tmp_path))
    assert (row["path"], row["size"], row["mode"], row["sha256"]) == (rel, len(BODY), "0o600", o.sha256_file(tmp_path / rel))
    assert home_view.copy_home(str(tmp_path), str(tmp_path.parent / "copy"), 10**6)
    assert (tmp_path.parent / "copy" / rel).read_bytes() == BODY
    assert not home_view.copy_home(str(tmp_path), str(tmp_path.parent / "small"), 1)
