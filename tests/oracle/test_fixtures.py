"""The corpus: reproducible, installable with exact modes and mtimes, and its expectations hold on disk."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from pathlib import Path

import pytest

import fixtures
from conformance.oracle import disk as o
from fixtures import generate

CASES = fixtures.cases()
SIX_HOURS_NS = 6 * 3600 * 10**9


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_regenerating_is_byte_identical(tmp_path):
    generate.generate(tmp_path / "corpus")
    assert tree(tmp_path / "corpus") == tree(fixtures.CORPUS)


def test_corpus_is_small_and_documented():
    assert sum(len(b) for b in tree(fixtures.CORPUS).values()) < 2 * 1024 * 1024
    readme = (Path(fixtures.__file__).parent / "README.md").read_text(encoding="utf-8")
    assert len(CASES) >= 25
    for case in CASES:
        assert f"`{case.name}`" in readme


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_case_folder_matches_case_json(case):
    on_disk = set(tree(case.folder)) - {"case.json"}
    assert on_disk == set(case.files)
    assert case.description and set(case.expected) >= {"rollouts", "listed", "lookup"}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_install_preserves_mode_and_mtime(case, tmp_path):
    home = tmp_path / "home"
    before = time.time_ns()
    fixtures.install(case.name, home)
    after = time.time_ns()
    for rel in case.files:
        dest = fixtures.outside_root(home) / rel[len("outside/"):] if rel.startswith("outside/") else home / rel
        st = os.lstat(dest)
        assert stat.S_IMODE(st.st_mode) == case.meta[rel].mode
        if case.meta[rel].mtime_ns is None:
            assert before - 10**9 <= st.st_mtime_ns <= after + 10**9
        else:
            assert st.st_mtime_ns == case.meta[rel].mtime_ns
        assert dest.read_bytes() == (case.folder / rel).read_bytes()
    for link in case.symlinks:
        assert (home / link).is_symlink()
        assert not Path(os.path.realpath(home / link)).is_relative_to(home.resolve())


def listed(home: Path) -> list[str]:
    """A minimal discovery on the oracle's snapshot: regular rollout files, .zst folded into its logical path."""
    return sorted({o.logical_of(rel) for rel, fs in o.snapshot(home).items()
                   if fs.kind in ("plain", "zst") and rel.startswith(("sessions/", "archived_sessions/"))})


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_expectations_hold_on_disk(case, tmp_path):
    home = tmp_path / "home"
    fixtures.install(case.name, home)
    exp = case.expected
    assert listed(home) == exp["listed"]
    for logical, want in exp["rollouts"].items():
        if want["error"] == "outside_home":
            assert not Path(os.path.realpath(home / logical)).is_relative_to(home.resolve())
            continue
        if want["error"] == "corrupt":
            with pytest.raises(o.OracleCorrupt):
                o.logical_content(home, logical)
            continue
        assert want["error"] is None
        data = o.logical_content(home, logical)
        rep = o.representations(home, logical)[0]
        assert ("zst" if rep.endswith(".zst") else "plain") == want["representation"]
        assert hashlib.sha256(data).hexdigest() == want["content_sha256"]
        assert o.line_counts(data) == (want["items"], want["parse_errors"])
        assert (want["id"] is None) == (want["header_error"] is not None)
        if want["id"]:
            assert o.parse_name(logical.rsplit("/", 1)[1])[1] == want["id"]
    for ident, phys in exp["lookup"].items():
        if phys is not None:
            assert o.parse_name(phys.rsplit("/", 1)[1])[1] == ident and (home / phys).is_file()
    for rel in exp.get("cleanup", {}).get("removed", []):
        assert rel in o.temps(home) and time.time_ns() - os.stat(home / rel).st_mtime_ns > SIX_HOURS_NS
    for rel in exp.get("cleanup", {}).get("kept", []):
        assert rel in o.temps(home) and time.time_ns() - os.stat(home / rel).st_mtime_ns < SIX_HOURS_NS


def test_both_representation_cases_relate_as_declared(tmp_path):
    for case in (c for c in CASES if "recovery" in c.expected):
        home = tmp_path / case.name
        fixtures.install(case.name, home)
        for logical, verdict in case.expected["recovery"].items():
            plain, zst = (home / logical).read_bytes(), o.decode_zst(home / (logical + ".zst"))
            actual = "finish" if plain == zst else "stale_zst" if plain.startswith(zst) else "conflict"
            assert actual == verdict


def test_fork_children_name_their_parent(tmp_path):
    for case in (c for c in CASES if "fork_bases" in c.expected):
        home = tmp_path / case.name
        fixtures.install(case.name, home)
        parents = set()
        for logical in case.expected["rollouts"]:
            meta = json.loads(o.logical_content(home, logical).split(b"\n", 1)[0])
            parents.add(meta["payload"].get("forked_from_id"))
        assert set(case.expected["fork_bases"]) <= parents


def test_search_expectation(tmp_path):
    case = fixtures.install("compressed_rollout", tmp_path / "home")
    for text, hits in case.expected["search"].items():
        for logical, line_no in hits:
            lines = o.logical_content(tmp_path / "home", logical).split(b"\n")
            assert text.encode() in lines[line_no - 1]


def test_multi_frame_and_skippable_cases_have_the_frames_they_claim(tmp_path):
    for name, data_frames, skippable in (("multi_frame_zst", 3, 0), ("skippable_frame_zst", 2, 3)):
        case = fixtures.load(name)
        (rel,) = case.files
        frames = o.frame_info(case.folder / rel)
        assert sum(not f.skippable for f in frames) == data_frames and sum(f.skippable for f in frames) == skippable
