"""Reusing a served program for the next store (PROTOCOL.md, "Reusing a program"): the reuse path and
every fallback, with real programs, real homes and real locks."""

from __future__ import annotations

import io
import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from conformance.oracle import disk as oracle
from conformance.protocol.client import CommandStore
from conformance.protocol.server import serve
from conformance.protocol.server_pool import ServerPool
from conformance.api.errors import BadRequestError
from reference.store import ReferenceStore

SERVE_REFERENCE = f"{sys.executable} -m conformance.cli.serve --store reference"
UUID_A = "0199a213-81c0-7800-8aa1-bbab2a035a53"
REL = f"sessions/2025/01/03/rollout-2025-01-03T12-00-00-{UUID_A}.jsonl"


def _home(root: Path, name: str) -> Path:
    home = root / name
    (home / "sessions").mkdir(parents=True)
    (home / "archived_sessions").mkdir()
    return home


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _pid_of_a_closed_session(command: str, pool: ServerPool) -> int:
    store = CommandStore(command, pool=pool)
    pid = store.pid
    store.close()
    return pid


@pytest.fixture
def pool():
    servers = ServerPool()
    yield servers
    servers.clear()


def test_a_reopened_program_is_as_fresh_as_a_new_one(tmp_path, pool):
    first_home, second_home = _home(tmp_path, "first"), _home(tmp_path, "second")
    first = CommandStore(SERVE_REFERENCE, pool=pool)
    first.configure(str(first_home), 0)
    first.create(REL, [oracle.session_meta_line(UUID_A).decode().rstrip("\n")])
    handle = first.open_writer(REL)
    first.write(handle, '{"type":"event_msg","payload":{}}')
    pid = first.pid
    first.close()  # the writer is still open: reopen must close it and release its lock

    second = CommandStore(SERVE_REFERENCE, pool=pool)
    try:
        assert second.pid == pid, "the program that declared reopen was not reused"
        fresh = CommandStore(SERVE_REFERENCE)
        try:
            assert second.hello() == fresh.hello()
        finally:
            fresh.close()
        assert "reopen" not in second.hello().capabilities  # the transport's, not the store's
        with pytest.raises(BadRequestError):
            second.list()  # the old configuration is forgotten: an op before configure, as when new
        second.configure(str(second_home), 0)
        assert second.list() == []  # the new home only
        with pytest.raises(BadRequestError):
            second.write(handle, "{}")  # the old session's handle is gone
    finally:
        second.close()
    witness = ReferenceStore()
    witness.configure(str(first_home), 0)
    assert witness.compress(REL) == "compressed", "the reused program still holds the old session's writer lock"
    assert oracle.logical_content(first_home, REL).count(b"\n") == 2  # the line written before the close kept


def test_each_session_gets_a_new_program_without_reopen(tmp_path, pool):
    command = SERVE_REFERENCE + " --no-reopen"
    pid = _pid_of_a_closed_session(command, pool)
    assert _gone(pid), "a program that did not declare reopen outlived its session"
    second = CommandStore(command, pool=pool)
    try:
        assert second.pid != pid
    finally:
        second.close()


def test_a_changed_environment_gets_a_new_program(monkeypatch, pool):
    pid = _pid_of_a_closed_session(SERVE_REFERENCE, pool)
    monkeypatch.setenv("ROLLOUT_FAILPOINTS", "append.after_open")  # read by the program only at start-up
    second = CommandStore(SERVE_REFERENCE, pool=pool)
    try:
        assert second.pid != pid
    finally:
        second.close()


def test_a_killed_program_is_not_reused(pool):
    first = CommandStore(SERVE_REFERENCE, pool=pool)
    pid = first.pid
    first.kill()
    first.close()
    second = CommandStore(SERVE_REFERENCE, pool=pool)
    try:
        assert second.pid != pid
        assert second.hello().name == "reference"
    finally:
        second.close()


#: A reference served with a reopen that goes wrong: the next session's store names itself anew (a
#: handshake that differs from the fresh one), or making it fails (an error answer to reopen).
_MISBEHAVING = textwrap.dedent("""
    import itertools, sys
    from conformance.protocol.server import serve
    from reference.store import ReferenceStore

    sessions = itertools.count()

    class Numbered(ReferenceStore):
        def __init__(self):
            super().__init__()
            self.name = f"reference-{next(sessions)}"

    def broken():
        raise RuntimeError("cannot make the next store")

    serve(Numbered(), sys.stdin.buffer, sys.stdout.buffer, reopen=broken if sys.argv[1] == "fails" else Numbered)
""")


@pytest.mark.parametrize("how", ["renames", "fails"])
def test_a_reopen_that_goes_wrong_falls_back_to_a_new_program(tmp_path, pool, how):
    script = tmp_path / "misbehaving.py"
    script.write_text(_MISBEHAVING)
    command = f"{sys.executable} {script} {how}"
    pid = _pid_of_a_closed_session(command, pool)
    second = CommandStore(command, pool=pool)
    try:
        assert second.pid != pid, f"a program whose reopen {how} was used again"
        assert second.hello().name == "reference-0"  # a new program's first store
        assert _gone(pid)
    finally:
        second.close()


def test_clearing_the_pool_ends_idle_programs(pool):
    pid = _pid_of_a_closed_session(SERVE_REFERENCE, pool)
    assert not _gone(pid)  # idle, waiting for the next session
    pool.clear()
    assert _gone(pid)


def _session(lines: list[dict], reopen) -> list[dict]:
    out = io.BytesIO()
    serve(ReferenceStore(), io.BytesIO(b"".join(json.dumps(line).encode() + b"\n" for line in lines)), out,
          reopen=reopen)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_the_server_declares_and_answers_reopen_only_with_a_factory(tmp_path):
    home = _home(tmp_path, "h")
    requests = [{"id": 1, "op": "hello", "protocol": 1}, {"id": 2, "op": "configure", "home": str(home),
                                                          "cold_after_seconds": 0},
                {"id": 3, "op": "reopen"}, {"id": 4, "op": "list", "archived": False},
                {"id": 5, "op": "hello", "protocol": 1}]
    reusable = _session(requests, ReferenceStore)
    assert "reopen" in reusable[0]["result"]["capabilities"]
    assert reusable[2] == {"id": 3, "ok": True, "result": {}}
    assert reusable[3]["error"]["kind"] == "bad_request"  # the configuration went with the old store
    assert reusable[4] == {**reusable[0], "id": 5}
    single = _session(requests, None)
    assert "reopen" not in single[0]["result"]["capabilities"]
    assert single[2]["error"]["kind"] == "unsupported"
    assert single[3]["ok"] is True  # no reopen happened: still configured
