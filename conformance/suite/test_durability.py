"""DUR-001 (fsync order, observed with strace), SEC-001 (compression temps) and ERR-006 (refused steps).

strace runs the store under test as a cmd: selection wrapping kit.serve_command(selection); those
tests are skipped only when strace itself is not installed on the machine.
"""

from __future__ import annotations

import fcntl
import os
import re
import shlex
import shutil
from pathlib import Path

import pytest

from conformance.oracle import disk as oracle
from conformance.stores.selection import open_store
from conformance.suite import kit, strace_kit

needs_strace = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
DUR_TRACE = "fsync,fdatasync,link,linkat,unlink,unlinkat,rename,renameat2"
_FD_PATH = re.compile(r"^\d+<(?P<path>.*)>$")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _traced(selection: str, log: Path, trace: str):
    command = f"strace -f -qq -y -o {shlex.quote(str(log))} -e trace={trace} {kit.serve_command(selection)}"
    return open_store("cmd:" + command)


def _calls(log: Path) -> list[tuple[str, str]]:
    """(syscall, args) of every successful call in the strace log, in order of completion.

    strace_kit.parse joins the ``<unfinished ...>``/``resumed>`` halves a multi-threaded store
    (codex) produces, which a line-by-line match would drop.
    """
    return [(call.name, call.args) for call in strace_kit.parse(log) if call.ret is not None and call.ret >= 0]


def _fd_path(args: str) -> str | None:
    m = _FD_PATH.match(args.split(",")[0].strip())
    return m["path"] if m else None


def _names(args: str) -> list[str]:
    return _QUOTED.findall(args)


def _is(path: str, target: Path) -> bool:
    """A path argument names ``target`` (absolute, or relative to a dirfd: compare the last components)."""
    return path == str(target) or path.endswith("/" + target.name) or path == target.name


@pytest.mark.req("DUR-001")
@needs_strace
def test_compressor_fsyncs_temp_and_folder(store_selection, home, tmp_path):
    """strace: an fsync of the temp precedes the link to the .zst; an fsync of the folder follows the
    link and follows the unlink of the plain file, before compress returns."""
    home = home.resolve()
    r = kit.make_rollout(home, old=True)
    plain, zst = home / r.rel, home / r.zst
    folder = str(plain.parent)
    log = tmp_path / "strace.log"
    store = _traced(store_selection, log, DUR_TRACE)
    try:
        store.configure(str(home), 7 * 86400)  # the rollout is 8 days old: cold for every store
        assert store.compress(r.rel) == "compressed"
    finally:
        store.close()
    calls = _calls(log)
    assert calls, "strace recorded nothing"
    publish = next((i for i, (name, args) in enumerate(calls)
                    if name in ("link", "linkat", "renameat2") and _names(args) and _is(_names(args)[-1], zst)), None)
    assert publish is not None, "no link (or non-replacing rename) to the .zst seen"
    unlink = next((i for i, (name, args) in enumerate(calls)
                   if i > publish and name in ("unlink", "unlinkat") and _names(args) and _is(_names(args)[-1], plain)),
                  None)
    assert unlink is not None, "no unlink of the plain file after the publish"

    def fsyncs(lo: int, hi: int) -> list[str]:
        return [_fd_path(args) or "" for name, args in calls[lo:hi] if name in ("fsync", "fdatasync")]

    before = fsyncs(0, publish)
    assert any(p.endswith(".tmp") and p.startswith(folder + "/") for p in before), \
        f"no fsync of the temp before the link; fsyncs seen: {before}"
    assert folder in fsyncs(publish + 1, unlink), "no fsync of the folder between the link and the unlink"
    assert folder in fsyncs(unlink + 1, len(calls)), "no fsync of the folder after the unlink"


@pytest.mark.req("SEC-001")
@needs_strace
def test_compression_temp_is_created_exclusive_and_owner_only(store_selection, home, tmp_path):
    """strace: the openat that creates the compression temp carries O_EXCL and a mode within 0o700,
    under umask 000 and for a 0644 rollout."""
    home = home.resolve()
    r = kit.make_rollout(home, old=True, mode=0o644)
    folder = str((home / r.rel).parent)
    log = tmp_path / "strace.log"
    previous = os.umask(0)
    try:
        store = _traced(store_selection, log, "open,openat,creat")
    finally:
        os.umask(previous)
    try:
        store.configure(str(home), 7 * 86400)  # the rollout is 8 days old: cold for every store
        assert store.compress(r.rel) == "compressed"
    finally:
        store.close()
    creates = []
    for name, args in _calls(log):
        names = _names(args)
        if names and names[-1].endswith(".tmp") and ("O_CREAT" in args or name == "creat"):
            path = names[-1]
            if path.startswith(folder + "/") or "/" not in path:
                creates.append(args)
    assert creates, "no creation of a temp seen in the rollout's folder"
    for args in creates:
        assert "O_EXCL" in args, f"temp created without O_EXCL: {args}"
        mode = int(args.rsplit(",", 1)[-1].strip(), 8)
        assert mode & 0o077 == 0, f"temp created with mode {mode:o}, wider than the owner bits: {args}"
    assert oracle.file_state(home / r.zst).mode == 0o644


@pytest.mark.req("SEC-001")
@pytest.mark.needs("failpoints")
def test_held_compression_temp_is_private_and_locked(store_selection, home):
    """Held at compress.after_encode (umask 000, 0644 rollout): the temp has st_mode & 0o077 == 0 and a
    test process's LOCK_EX|LOCK_NB on it fails, so cleanup (aged or not) never takes it for an orphan."""
    r = kit.make_rollout(home, old=True, mode=0o644)
    with kit.failpoint_session(store_selection, home, umask=0) as session:
        with session.held_at("compress.after_encode", session.store.compress, r.rel) as box:
            found = oracle.temps(home)
            assert found, "no temp exists while the compressor is held after encoding"
            for rel in found:
                st = os.stat(home / rel)
                assert st.st_mode & 0o077 == 0, f"{rel} has mode {st.st_mode & 0o777:o}"
                fd = os.open(home / rel, os.O_RDONLY)
                try:
                    with pytest.raises(BlockingIOError):
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                finally:
                    os.close(fd)
                old = os.stat(home / rel).st_mtime_ns - 8 * kit.DAY_NS
                os.utime(home / rel, ns=(old, old))
            cleaner = kit.fresh_store(store_selection, home)
            try:
                removed = cleaner.cleanup().temps_removed
            finally:
                cleaner.close()
            assert not set(found) & set(removed), "cleanup removed an in-flight temp"
    assert box.get("value") == "compressed"
    assert oracle.file_state(home / r.zst).mode == 0o644
    assert oracle.temps(home) == []


@pytest.mark.req("ERR-006", "COMP-016")
@pytest.mark.needs("failpoints")
@pytest.mark.parametrize("errno_name", ["ENOSPC", "EIO"])
def test_refused_step_gives_failed_and_keeps_plain(store_selection, home, errno_name):
    """An errno injected at each compress failpoint before the plain file is unlinked: outcome failed,
    plain intact (bytes, mode, st_mtime_ns), no .zst published, no temp left."""
    with kit.failpoint_session(store_selection, home) as session:
        kit.require_failpoints(session, "compress.after_encode")
        points = [p for p in session.store.hello().failpoints
                  if p.startswith("compress.") and p != "compress.after_unlink"]
        for i, point in enumerate(points):
            h = home.parent / f"err-{i}"
            (h / "sessions").mkdir(parents=True)
            (h / "archived_sessions").mkdir()
            r = kit.make_rollout(h, old=True, lines=3)
            before = oracle.file_state(h / r.rel)
            session.store.configure(str(h), 0)
            session.answer(point, "error", errno_name)
            outcome = session.store.compress(r.rel)
            session.require(point, "error")
            assert outcome == "failed", f"{point}: {outcome}"
            assert oracle.representations(h, r.rel) == (r.rel,), f"{point}: a .zst was published"
            after = oracle.file_state(h / r.rel)
            assert (after.sha256, after.mode, after.mtime_ns) == (before.sha256, before.mode, before.mtime_ns), point
            assert oracle.temps(h) == [], f"{point}: temp left {oracle.temps(h)}"
