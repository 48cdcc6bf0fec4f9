"""Writer and lifecycle security: private temps (SEC-002), umask independence (SEC-003), no writes
through symlinks (SEC-005), no moves or removals through symlinks (SEC-007).

Modes are judged with os.stat (we run as root: never rely on EACCES); the umask is that of a real
child process running the store.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
from datetime import datetime
from pathlib import Path

import pytest

import fixtures
from conformance.oracle import disk as oracle
from conformance.suite import kit, strace_kit
from conformance.api.errors import StoreError


_DAY = datetime(2025, 1, 3, 12, 30, 0)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path, follow_symlinks=False).st_mode)


@contextlib.contextmanager
def _umask(mask: int):
    """This process's umask for the block (child processes started in it inherit it)."""
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def _tree(root: Path) -> dict:
    """Every entry under ``root`` (lstat, symlinks not followed), for "nothing changed" checks."""
    return oracle.snapshot(root) if root.exists() else {}


# --- SEC-002 ------------------------------------------------------------------------------------


@pytest.mark.req("SEC-002")
@pytest.mark.needs("failpoints")
@pytest.mark.parametrize("zst_mode", [0o644, 0o666, 0o640, 0o600], ids=oct)
def test_materialize_temp_is_private_and_locked(store_selection, home, zst_mode):
    """Temps never readable by others: held at materialize.after_decode under umask 000, the temp
    has no group/other bits, no bit beyond the `.zst` owner bits, and its creator's lock."""
    r = kit.make_rollout(home, compressed=True, old=True, mode=zst_mode)
    with kit.failpoint_session(store_selection, home, umask=0) as session:
        with session.held_at("materialize.after_decode", session.store.materialize, r.rel) as outcome:
            temps = oracle.temps(home)
            assert len(temps) == 1, f"expected one materialization temp while held, found {temps}"
            mode = _mode(home / temps[0])
            assert mode & 0o077 == 0, f"the temp is group/world accessible: {oct(mode)}"
            assert mode & ~(zst_mode & 0o700) == 0, f"the temp mode {oct(mode)} is wider than the .zst owner bits"
            fd = os.open(home / temps[0], os.O_RDONLY)
            try:
                with pytest.raises(BlockingIOError):
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            finally:
                os.close(fd)
    assert outcome.get("value") is True
    assert _mode(home / r.rel) == zst_mode
    assert oracle.temps(home) == []


_MODE_ARG = re.compile(r", (0[0-7]*)$")


@pytest.mark.req("SEC-002")
@pytest.mark.parametrize("zst_mode", [0o644, 0o600], ids=oct)
def test_materialize_temp_created_exclusive_with_owner_mode(store_selection, home, tmp_path, zst_mode):
    """strace under umask 000: the open that creates the temp carries O_EXCL and no group/other bits."""
    r = kit.make_rollout(home, compressed=True, old=True, mode=zst_mode)
    folder = os.path.dirname(strace_kit.real(home, r.rel))
    plain = strace_kit.real(home, r.rel)
    log = tmp_path / "strace.log"
    with contextlib.ExitStack() as stack:
        with _umask(0):  # the traced store starts under umask 000
            store = stack.enter_context(strace_kit.traced_store(store_selection, home, log))
        assert store.materialize(r.rel) is True
    creating = [c for c in strace_kit.parse(log) if c.name in ("open", "openat")
                and ("O_CREAT" in c.args or "O_TMPFILE" in c.args)
                and any(p == folder or (p.startswith(folder + "/") and p != plain) for p in c.path_args())]
    assert creating, "strace saw no creation of a materialization temp"
    for call in creating:
        m = _MODE_ARG.search(call.args)
        assert m, f"no mode on a creating open: {call.args}"
        assert int(m[1], 8) & 0o077 == 0, f"the temp is created group/world accessible: {call.args}"
        if "O_CREAT" in call.args:
            assert "O_EXCL" in call.args, f"the temp is created without O_EXCL: {call.args}"
    assert _mode(home / r.rel) == zst_mode


# --- SEC-003 ------------------------------------------------------------------------------------


@pytest.mark.req("SEC-003")
@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077], ids=["umask000", "umask022", "umask077"])
def test_final_modes_do_not_depend_on_umask(store_selection, home, umask):
    """Umask independence: a store in a child process under umask 000/022/077 creates 0600 and
    materializes exactly the `.zst` mode."""
    compressed = {mode: kit.make_rollout(home, compressed=True, old=True, mode=mode, minute=i)
                  for i, mode in enumerate((0o644, 0o640, 0o600, 0o400))}
    via_append = kit.make_rollout(home, compressed=True, old=True, mode=0o660, minute=10)
    name = oracle.rollout_name(_DAY, "5b0f6a43-8c4e-4f3a-9d1b-2f6c7e8a9b0c")
    new_rel = oracle.active_path(name)
    child = strace_kit.under_umask(store_selection, umask)
    try:
        child.configure(os.fspath(home), 7 * 86400)
        assert child.create(new_rel, [kit.line_text("created")]) == new_rel
        for r in compressed.values():
            assert child.materialize(r.rel) is True
        child.append(via_append.rel, [kit.line_text("appended")])
    finally:
        child.close()
    assert _mode(home / new_rel) == 0o600, f"create under umask {umask:03o}"
    for mode, r in compressed.items():
        assert _mode(home / r.rel) == mode, f"materialize of a {oct(mode)} .zst under umask {umask:03o}"
    assert _mode(home / via_append.rel) == 0o660
    assert oracle.temps(home) == []


# --- SEC-005 ------------------------------------------------------------------------------------


def _writer_ops(store, rel: str):
    """Each writer operation on ``rel``, by name."""
    return {
        "create": lambda: store.create(rel, [kit.line_text("c")]),
        "append": lambda: store.append(rel, [kit.line_text("a")]),
        "open_writer": lambda: store.open_writer(rel),
        "materialize": lambda: store.materialize(rel),
    }


WRITER_OPS = ["create", "append", "open_writer", "materialize"]


@pytest.mark.req("SEC-005")
@pytest.mark.parametrize("op", WRITER_OPS)
def test_symlinked_plain_file_leading_out(store, home, op):
    case = fixtures.install("symlink_file_escape", home)
    link = next(iter(case.symlinks))
    outside = fixtures.outside_root(home)
    before_home, before_out, target = oracle.snapshot(home), _tree(outside), os.readlink(home / link)
    assert kit.store_error(_writer_ops(store, link)[op]).kind == "outside_home"
    assert os.readlink(home / link) == target
    assert _tree(outside) == before_out, "the symlink's target was changed"
    assert oracle.snapshot(home) == before_home


@pytest.mark.req("SEC-005")
@pytest.mark.parametrize("op", WRITER_OPS)
@pytest.mark.parametrize("points_to", ["outside", "inside", "dangling"])
def test_symlinked_zst_or_plain_is_never_written_through(store, home, tmp_path, op, points_to):
    """A `.zst` that is a symlink is not decoded, a plain file that is a symlink is not appended to,
    wherever they point; a dangling link is not created through."""
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = kit.make_rollout(home, compressed=True, old=True, minute=1)  # a real rollout in the home
    r = kit.make_rollout(home, compressed=True, old=True, minute=2)
    os.unlink(home / r.zst)
    if points_to == "outside":
        target = oracle.write_zst(outside, "victim.jsonl.zst", r.data)
        os.symlink(target, home / r.zst)
    elif points_to == "inside":
        os.symlink(home / victim.zst, home / r.zst)
    else:
        os.symlink(outside / "nothing.jsonl", home / r.rel)
    before_home, before_out = oracle.snapshot(home), _tree(outside)
    assert kit.store_error(_writer_ops(store, r.rel)[op]).kind == "outside_home"
    assert oracle.snapshot(home) == before_home, "a file was created, changed or removed in the home"
    assert _tree(outside) == before_out, "a file was created or changed through the symlink"


@pytest.mark.req("SEC-005")
@pytest.mark.parametrize("op", WRITER_OPS)
def test_symlinked_folder_leading_out(store, home, op):
    case = fixtures.install("symlink_dir_escape", home)
    rel = next(p for p, e in case.expected["rollouts"].items() if e.get("error") == "outside_home")
    outside = fixtures.outside_root(home)
    if op == "materialize":  # a `.zst` beyond the link: never decoded into the outside folder
        real_folder = Path(os.path.realpath(home / rel)).parent
        plain = real_folder / Path(rel).name
        oracle.write_zst(real_folder, plain.name + ".zst", plain.read_bytes())
        plain.unlink()
    if op == "create":  # a new name in the linked folder
        rel = rel.replace(Path(rel).name, oracle.rollout_name(_DAY, "6c1e7b54-9d5f-4a4b-8e2c-3a7d8f9b0c1d"))
    before_home, before_out = oracle.snapshot(home), _tree(outside)
    assert kit.store_error(_writer_ops(store, rel)[op]).kind == "outside_home"
    assert _tree(outside) == before_out, "a file was created or changed outside the home"
    assert oracle.snapshot(home) == before_home


# --- SEC-007 ------------------------------------------------------------------------------------


def _lifecycle_ops(store, rel: str):
    return {"archive": lambda: store.archive(rel), "unarchive": lambda: store.unarchive(rel),
            "delete": lambda: store.delete(rel)}


@pytest.mark.req("SEC-007")
@pytest.mark.parametrize("op", ["archive", "delete"])
def test_active_symlinked_rollout_is_not_moved_or_removed(store, home, op):
    case = fixtures.install("symlink_file_escape", home)
    link = next(iter(case.symlinks))
    outside = fixtures.outside_root(home)
    before_home, before_out = oracle.snapshot(home), _tree(outside)
    assert kit.store_error(_lifecycle_ops(store, link)[op]).kind == "outside_home"
    assert oracle.snapshot(home) == before_home, "the link was moved or removed"
    assert _tree(outside) == before_out, "the link's target was moved, changed or removed"


@pytest.mark.req("SEC-007")
@pytest.mark.parametrize("op", ["archive", "unarchive", "delete"])
@pytest.mark.parametrize("link_kind", ["plain", "zst"])
@pytest.mark.parametrize("points_to", ["outside", "inside"])
def test_symlinked_representation_is_not_moved_or_removed(store, home, tmp_path, op, link_kind, points_to):
    outside = tmp_path / "outside"
    outside.mkdir()
    archived = op == "unarchive"
    victim = kit.make_rollout(home, compressed=link_kind == "zst", old=True, minute=1, archived=not archived)
    r = kit.make_rollout(home, old=True, minute=2, archived=archived)
    os.unlink(home / r.rel)
    physical = r.zst if link_kind == "zst" else r.rel
    if points_to == "outside":
        target = (oracle.write_zst if link_kind == "zst" else oracle.write_plain)(outside, "victim", r.data)
    else:
        target = home / (victim.zst if link_kind == "zst" else victim.rel)
    os.symlink(target, home / physical)
    before_home, before_out = oracle.snapshot(home), _tree(outside)
    assert kit.store_error(_lifecycle_ops(store, r.rel)[op]).kind == "outside_home"
    assert oracle.snapshot(home) == before_home, "a link or its target was moved or removed"
    assert _tree(outside) == before_out


@pytest.mark.req("SEC-007")
@pytest.mark.parametrize("op", ["archive", "delete"])
def test_rollout_behind_a_symlinked_folder_is_not_moved_or_removed(store, home, op):
    case = fixtures.install("symlink_dir_escape", home)
    rel = next(p for p, e in case.expected["rollouts"].items() if e.get("error") == "outside_home")
    outside = fixtures.outside_root(home)
    before_home, before_out = oracle.snapshot(home), _tree(outside)
    assert kit.store_error(_lifecycle_ops(store, rel)[op]).kind == "outside_home"
    assert _tree(outside) == before_out, "a file outside the home was moved or removed"
    assert oracle.snapshot(home) == before_home


@pytest.mark.req("SEC-007")
def test_unarchive_into_a_symlinked_date_folder_is_refused(store, home, tmp_path):
    """The destination folder sessions/YYYY/MM/DD is a symlink out of the home: nothing moves there."""
    outside = tmp_path / "outside-day"
    outside.mkdir()
    (home / "sessions" / "2025" / "01").mkdir(parents=True)
    os.symlink(outside, home / "sessions" / "2025" / "01" / "03")
    r = kit.make_rollout(home, archived=True, old=True)
    before_home = oracle.snapshot(home)
    with pytest.raises(StoreError) as info:
        store.unarchive(r.rel)
    assert info.value.kind == "outside_home"
    assert list(outside.iterdir()) == [], "unarchive moved the rollout out of the home"
    assert oracle.snapshot(home) == before_home
