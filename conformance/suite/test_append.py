"""Appends, long-lived writers and create (APPEND-001 .. APPEND-006).

Verdicts come from the disk: file bytes, modes and inodes, hard links the test keeps to every
`.zst`, and (APPEND-002) the store's own system calls under strace.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
import threading
import uuid as uuidlib
from datetime import datetime
from pathlib import Path

import pytest

import fixtures
from conformance.oracle import disk as oracle
from conformance.api.errors import Inconclusive
from conformance.stores.selection import open_store
from conformance.suite import kit, strace_kit
from conformance.api.errors import StoreError


def _nl(*lines: str) -> bytes:
    return b"".join(line.encode() + b"\n" for line in lines)


# --- APPEND-001 ---------------------------------------------------------------------------------


def _keep_links(home: Path, links: Path) -> dict[Path, bytes]:
    """A hard link, outside the home, to every `.zst` under it; with the bytes it has now."""
    links.mkdir(exist_ok=True)
    kept = {}
    for rel, state in oracle.snapshot(home).items():
        if state.kind == "zst":
            link = links / f"{len(kept)}-{Path(rel).name}"
            os.link(home / rel, link)
            kept[link] = link.read_bytes()
    return kept


def _assert_links_unchanged(kept: dict[Path, bytes]) -> None:
    for link, data in kept.items():
        assert link.read_bytes() == data, f"a store wrote into a published .zst inode ({link.name})"


@pytest.mark.req("APPEND-001")
def test_writer_operations_never_write_into_a_zst(store, home, tmp_path):
    """Keep a hard link to each `.zst` outside its name; after every writer operation the inode
    holds the bytes it was published with."""
    appended = kit.make_rollout(home, compressed=True, old=True, minute=0)
    written = kit.make_rollout(home, compressed=True, old=True, minute=1)
    materialized = kit.make_rollout(home, compressed=True, old=True, minute=2)
    only_read = kit.make_rollout(home, compressed=True, old=True, minute=3)
    read_only = kit.make_rollout(home, compressed=True, old=True, minute=4, mode=0o400)
    archived = kit.make_rollout(home, compressed=True, old=True, minute=5, archived=True)
    stale = kit.make_rollout(home, compressed=True, old=True, minute=6)  # plain extends the .zst
    oracle.write_plain(home, stale.rel, stale.data + _nl(kit.line_text("after crash")), 0o600)
    kept = _keep_links(home, tmp_path / "zst-links")
    assert len(kept) == 7

    store.append(appended.zst, [kit.line_text("a1"), kit.line_text("a2")])
    store.append(appended.rel, [kit.line_text("a3")])
    handle = store.open_writer(written.zst)
    store.write(handle, kit.line_text("w1"))
    store.close_writer(handle)
    assert store.materialize(materialized.zst) is True
    store.append(materialized.rel, [kit.line_text("m1")])
    store.read(only_read.zst)
    store.header(only_read.rel)
    assert kit.store_error(store.append, read_only.zst, [kit.line_text("r1")]).kind == "read_only"
    store.append(archived.zst, [kit.line_text("ar1")])
    store.append(stale.zst, [kit.line_text("s1")])
    handle = store.open_writer(stale.rel)
    store.write(handle, kit.line_text("s2"))
    store.close_writer(handle)

    _assert_links_unchanged(kept)
    assert (home / stale.rel).read_bytes() == stale.data + _nl(*(kit.line_text(t) for t in
                                                                ("after crash", "s1", "s2")))
    assert (home / appended.rel).read_bytes() == appended.data + _nl(*(kit.line_text(t) for t in
                                                                      ("a1", "a2", "a3")))


# --- APPEND-002 ---------------------------------------------------------------------------------


@pytest.mark.req("APPEND-002")
def test_one_write_per_line_on_an_o_append_handle(store_selection, home, tmp_path):
    """strace: each line (a 2 MiB one too) is one write(2) of the line plus newline, O_APPEND."""
    r = kit.make_rollout(home)
    short = [kit.line_text("s1"), kit.line_text("s22", 100), kit.line_text("big", 2 * 1024 * 1024)]
    long_lived = [kit.line_text("w1", 7), kit.line_text("w2", 3000)]
    log = tmp_path / "strace.log"
    with strace_kit.traced_store(store_selection, home, log) as traced:
        traced.append(r.rel, short)
        handle = traced.open_writer(r.rel)
        for line in long_lived:
            traced.write(handle, line)
        traced.close_writer(handle)
    assert (home / r.rel).read_bytes() == r.data + _nl(*short, *long_lived)
    plain = strace_kit.real(home, r.rel)
    calls = strace_kit.parse(log)
    writes = [c for c in calls if c.name in ("write", "pwrite64", "writev") and c.fd_paths[:1] == [plain]]
    expected = [len(line.encode()) + 1 for line in short + long_lived]
    assert [(c.name, c.last_int, c.ret) for c in writes] == [("write", n, n) for n in expected], \
        "each line must be written with exactly one write(2) of the line plus its newline"
    opens = [c for c in calls if c.name in ("open", "openat") and plain in c.path_args()
             and ("O_WRONLY" in c.args or "O_RDWR" in c.args) and (c.ret or -1) >= 0]
    assert opens, "strace saw no open of the plain file for writing"
    assert all("O_APPEND" in c.args for c in opens), f"a writable open lacks O_APPEND: {[c.args for c in opens]}"


@pytest.mark.req("APPEND-002")
def test_concurrent_appenders_never_interleave_within_a_line(store, store_selection, home):
    """Three store instances append lines longer than PIPE_BUF at once: every line lands whole,
    once, in each writer's order."""
    r = kit.make_rollout(home)
    writers, per_writer = 3, 12
    lines = {w: [kit.line_text(f"writer{w}-line{n:03d}", 80_000 + 977 * w) for n in range(per_writer)]
             for w in range(writers)}
    stores = [store] + [kit.fresh_store(store_selection, home) for _ in range(writers - 1)]
    errors = []
    start = threading.Barrier(writers)

    def run(w):
        try:
            start.wait()
            for n, line in enumerate(lines[w]):
                if n % 3 == 2:
                    handle = stores[w].open_writer(r.rel)
                    stores[w].write(handle, line)
                    stores[w].close_writer(handle)
                else:
                    stores[w].append(r.rel, [line])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(writers)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            kit.finish(t, "an appender")
    finally:
        for extra in stores[1:]:
            extra.close()
    busy = [e for e in errors if isinstance(e, StoreError) and e.kind == "busy"]
    assert len(busy) == len(errors), f"an appender failed: {errors!r}"
    if busy:  # a bounded lock wait that ran out on a loaded machine: allowed, and nothing was shown
        raise Inconclusive(f"{len(busy)} appender(s) gave up with busy: too slow to judge, not a failure")
    data = (home / r.rel).read_bytes()
    assert data.startswith(r.data)
    got = data[len(r.data):].split(b"\n")
    assert got[-1] == b"", "the file does not end with a newline"
    got = got[:-1]
    expected = {line.encode() for ls in lines.values() for line in ls}
    assert all(line in expected for line in got), "a line was interleaved with another or torn"
    assert len(got) == len(expected) == len(set(got)), "a line is missing or duplicated"
    for w in range(writers):
        mine = [line for line in got if f"writer{w}-".encode() in line[:200]]
        assert mine == [line.encode() for line in lines[w]], f"writer {w}'s lines are out of order"


@pytest.mark.req("APPEND-002")
def test_short_write_is_reported_as_io_error(store_selection, home):
    """A write cut short (RLIMIT_FSIZE in the store's process) must fail with io_error, not be
    acknowledged."""
    r = kit.make_rollout(home, data=oracle.session_meta_line(str(uuidlib.uuid4())) + _nl(kit.line_text("pad", 200_000)))
    size = os.stat(home / r.rel).st_size
    limit = size + 10
    setter = ("import os, resource, sys; "
              f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
              "os.execvp('sh', ['sh', '-c', sys.argv[1]])")
    command = f"{shlex.quote(sys.executable)} -c {shlex.quote(setter)} {shlex.quote(kit.serve_command(store_selection))}"
    limited = open_store("cmd:" + command)
    try:
        limited.configure(os.fspath(home), 7 * 86400)
        assert kit.store_error(limited.append, r.rel, [kit.line_text("cut", 500)]).kind == "io_error"
        handle = limited.open_writer(r.rel)
        try:
            assert kit.store_error(limited.write, handle, kit.line_text("cut again", 500)).kind == "io_error"
        finally:
            limited.close_writer(handle)
        limited.read(r.rel)  # still serving
    finally:
        limited.close()
    assert os.stat(home / r.rel).st_size <= limit


# --- APPEND-003 ---------------------------------------------------------------------------------


@pytest.mark.req("APPEND-003")
def test_exactly_one_newline_per_line(store, home):
    r = kit.make_rollout(home)
    lines = [kit.line_text("one"), '{"type":"event_msg","payload":{"message":"ünïcödé ✓"}}', kit.line_text("three")]
    store.append(r.rel, lines[:2])
    handle = store.open_writer(r.rel)
    store.write(handle, lines[2])
    store.close_writer(handle)
    assert (home / r.rel).read_bytes() == r.data + _nl(*lines)


@pytest.mark.req("APPEND-003")
@pytest.mark.parametrize("bad", ['{"a":1}\n', '{"a":\n1}', "\n", '{"a":1}\n{"b":2}'])
def test_a_line_containing_newline_is_refused(store, home, bad):
    r = kit.make_rollout(home)
    before = oracle.snapshot(home)
    assert kit.store_error(store.append, r.rel, [bad]).kind == "bad_request"
    handle = store.open_writer(r.rel)
    try:
        assert kit.store_error(store.write, handle, bad).kind == "bad_request"
    finally:
        store.close_writer(handle)
    assert oracle.snapshot(home) == before


@pytest.mark.req("APPEND-003")
def test_a_bad_line_among_good_ones_writes_nothing_of_it(store, home):
    r = kit.make_rollout(home)
    good = kit.line_text("good")
    assert kit.store_error(store.append, r.rel, [good, '{"x":"bad-part-1"}\n{"y":"bad-part-2"}']).kind == "bad_request"
    data = (home / r.rel).read_bytes()
    assert data in (r.data, r.data + _nl(good)), "part of the refused line was written"


# --- APPEND-004 ---------------------------------------------------------------------------------


@pytest.mark.req("APPEND-004")
@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "zst"])
@pytest.mark.parametrize("mode", [0o400, 0o444, 0o500, 0o040], ids=oct)
def test_owner_write_bit_clear_refuses_appends(store, home, compressed, mode):
    """Even as root: the owner-write bit, not EACCES, decides. A `.zst` is not materialized."""
    r = kit.make_rollout(home, compressed=compressed, old=True, mode=mode)
    before = oracle.snapshot(home)
    assert kit.store_error(store.append, r.zst if compressed else r.rel, [kit.line_text("no")]).kind == "read_only"
    assert kit.store_error(store.open_writer, r.rel).kind == "read_only"
    assert oracle.snapshot(home) == before


@pytest.mark.req("APPEND-004")
def test_fixture_modes_refuse_or_allow_appends(store, home):
    """Upstream 15/16/19 corpus: which rollouts accept appends."""
    case = fixtures.install("modes_0600_0400", home)
    for rel, expected in case.expected["append"].items():
        before = oracle.snapshot(home)
        if expected is None:
            store.append(rel, [kit.line_text("ok")])
            assert oracle.logical_content(home, rel).endswith(_nl(kit.line_text("ok")))
        else:
            assert kit.store_error(store.append, rel, [kit.line_text("no")]).kind == expected
            assert oracle.snapshot(home) == before


# --- APPEND-005 ---------------------------------------------------------------------------------


@pytest.mark.req("APPEND-005")
def test_writer_handle_acknowledges_each_line(store, store_selection, home):
    r = kit.make_rollout(home)
    handle = store.open_writer(r.rel)
    expected = r.data
    other = kit.fresh_store(store_selection, home)
    try:
        for n in range(4):
            line = kit.line_text(f"handle line {n}")
            store.write(handle, line)
            expected += _nl(line)
            assert (home / r.rel).read_bytes() == expected, "an acknowledged line is not on disk"
            if n == 1:  # a short append by another instance meanwhile: the handle keeps appending
                other.append(r.rel, [kit.line_text("short")])
                expected += _nl(kit.line_text("short"))
    finally:
        other.close()
    store.close_writer(handle)
    before = oracle.snapshot(home)
    assert kit.store_error(store.write, handle, kit.line_text("after close")).kind == "bad_request"
    assert kit.store_error(store.close_writer, handle).kind == "bad_request"
    assert oracle.snapshot(home) == before


@pytest.mark.req("APPEND-005")
def test_unknown_writer_handle_is_a_bad_request(store, home):
    r = kit.make_rollout(home)
    before = oracle.snapshot(home)
    for handle in ("no-such-handle", ""):
        assert kit.store_error(store.write, handle, kit.line_text("x")).kind == "bad_request"
        assert kit.store_error(store.close_writer, handle).kind == "bad_request"
    assert oracle.snapshot(home) == before
    store.append(r.rel, [kit.line_text("still serving")])


@pytest.mark.req("APPEND-005")
def test_two_writer_handles_are_independent(store, home):
    r = kit.make_rollout(home)
    first, second = store.open_writer(r.rel), store.open_writer(r.rel)
    assert first != second
    store.write(first, kit.line_text("1"))
    store.close_writer(first)
    store.write(second, kit.line_text("2"))
    assert kit.store_error(store.write, first, kit.line_text("x")).kind == "bad_request"
    store.close_writer(second)
    assert (home / r.rel).read_bytes() == r.data + _nl(kit.line_text("1"), kit.line_text("2"))


# --- APPEND-006 ---------------------------------------------------------------------------------


def _new_rel(minute: int = 0) -> str:
    name = oracle.rollout_name(datetime(2025, 1, 3, 12, minute, 0), uuidlib.uuid4())
    return oracle.active_path(name)


@pytest.mark.req("APPEND-006")
@pytest.mark.parametrize("given", ["logical", "zst"])
def test_create_makes_a_0600_plain_file(store, home, given):
    rel = _new_rel()
    ident = oracle.parse_name(Path(rel).name)[1]
    lines = [oracle.session_meta_line(ident).decode().rstrip("\n"), kit.line_text("first")]
    returned = store.create(rel if given == "logical" else rel + ".zst", lines)
    assert returned == rel
    st = os.stat(home / rel, follow_symlinks=False)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert (home / rel).read_bytes() == _nl(*lines)
    assert oracle.representations(home, rel) == (rel,)
    assert oracle.temps(home) == []


@pytest.mark.req("APPEND-006")
@pytest.mark.parametrize("existing", ["plain", "zst", "plain0400"])
def test_create_refuses_an_existing_rollout(store, home, existing):
    r = kit.make_rollout(home, compressed=existing == "zst", old=True, mode=0o400 if existing == "plain0400" else 0o600)
    before = oracle.snapshot(home)
    assert kit.store_error(store.create, r.rel, [kit.line_text("new")]).kind == "already_exists"
    assert kit.store_error(store.create, r.zst, [kit.line_text("new")]).kind == "already_exists"
    assert oracle.snapshot(home) == before, "create changed an existing rollout or left a plain file"


@pytest.mark.req("APPEND-006")
@pytest.mark.needs("failpoints")
def test_concurrent_creates_of_one_path_let_exactly_one_win(store_selection, home):
    """A second create of the same path while the first is held before its first write: already_exists,
    and the rollout holds exactly the winner's lines (an O_CREAT without O_EXCL would let both win)."""
    r = kit.unwritten_rollout()
    first = [oracle.session_meta_line(r.id).decode().rstrip("\n"), kit.line_text("first-creator")]
    second = [oracle.session_meta_line(r.id).decode().rstrip("\n"), kit.line_text("second-creator")]
    with kit.failpoint_session(store_selection, home) as session:
        with session.held_at("append.before_write", session.store.create, r.rel, first) as box:
            other = kit.fresh_store(store_selection, home)
            try:
                outcome = kit.store_error(other.create, r.rel, second).kind
            except AssertionError:
                outcome = "acknowledged"
            finally:
                other.close()
        assert "error" not in box, box.get("error")
    assert outcome == "already_exists", f"the second concurrent create was {outcome}"
    assert oracle.logical_content(home, r.rel) == "".join(line + "\n" for line in first).encode()


@pytest.mark.req("APPEND-006")
@pytest.mark.needs("failpoints")
def test_a_create_held_between_its_check_and_its_open_does_not_truncate_a_rival(store_selection, home):
    """A create held at ``create.before_open`` (it found the name free) while a second create of the
    same name wins: released, the first fails ``already_exists`` and the winner's lines stay whole
    (a check-then-act create, ``O_CREAT|O_TRUNC`` without ``O_EXCL``, truncates them)."""
    r = kit.unwritten_rollout()
    held_lines = [oracle.session_meta_line(r.id).decode().rstrip("\n"), kit.line_text("held-creator")]
    winner = [oracle.session_meta_line(r.id).decode().rstrip("\n"), kit.line_text("winning-creator")]
    with kit.failpoint_session(store_selection, home) as session:
        with session.held_at("create.before_open", session.store.create, r.rel, held_lines) as box:
            other = kit.fresh_store(store_selection, home)
            try:
                other.create(r.rel, winner)
            finally:
                other.close()
    error = box.get("error")
    if error is not None and not isinstance(error, StoreError):
        raise error  # the store broke (inconclusive), not a verdict on create
    assert isinstance(error, StoreError) and error.kind == "already_exists", (
        f"the create released after a rival created the name was {error.kind if error else 'acknowledged'}: "
        "the open after the existence check must be exclusive (O_EXCL)")
    assert oracle.logical_content(home, r.rel) == "".join(line + "\n" for line in winner).encode(), (
        "the winning create's lines were not left whole")
