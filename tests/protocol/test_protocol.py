"""The stdio protocol: schemas, the server, CommandStore against real and broken programs, selection."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import zstandard

import conformance
from conformance.protocol import wire as protocol
from conformance.protocol.client import CommandStore
from conformance.api.errors import Inconclusive
from conformance.protocol.server import serve
from conformance.stores.selection import SelectionError, describe, open_store
from conformance.api.store import CAPABILITIES, CleanupReport, Hello, ReadResult, RolloutEntry, SearchHit, WorkerReport
from conformance.api.errors import InvalidNameError, NotFoundError, UnsupportedError

REPO = Path(conformance.__file__).resolve().parent.parent
PERL_READER = REPO / "conformance" / "stores" / "adapters" / "reader.pl"
UUID_A = "0199a213-81c0-7800-8aa1-bbab2a035a53"
UUID_B = "0199a213-81c0-7800-8aa1-bbab2a035a54"
UUID_C = "0199a213-81c0-7800-8aa1-bbab2a035a55"
DAY = "sessions/2025/01/03"
SERVE_REFERENCE = f"{sys.executable} -m conformance.cli.serve --store reference"

ENTRY = RolloutEntry(f"{DAY}/rollout-2025-01-03T12-00-00-{UUID_A}.jsonl",
                     f"{DAY}/rollout-2025-01-03T12-00-00-{UUID_A}.jsonl.zst", UUID_A, False, "zst", 17)
#: One store_api value per op, as a store returns it.
VALUES = {
    "hello": Hello(1, "demo", "1.0", CAPABILITIES, ("append.after_open",)),
    "configure": None,
    "read": ReadResult(b"\x00\xff{}\n", 1, 0, "zst", ENTRY.physical_path),
    "header": {"id": UUID_A, "cwd": "/tmp"},
    "list": [ENTRY],
    "find": ENTRY,
    "search": [SearchHit(ENTRY.path, 3)],
    "create": ENTRY.path,
    "append": ENTRY.path,
    "open_writer": "w1",
    "write": None,
    "close_writer": None,
    "materialize": True,
    "compress": "skipped_busy",
    "run_worker": WorkerReport(True, {ENTRY.path: "compressed"}, 100, 20, ("a.tmp",), ()),
    "cleanup": CleanupReport(("a.tmp",), (ENTRY.path,), ()),
    "archive": ENTRY.path,
    "unarchive": ENTRY.path,
    "delete": None,
    "shutdown": None,
    "reopen": None,
}
#: The fields of a valid request per op.
REQUESTS = {
    "hello": {"protocol": 1}, "configure": {"home": "/h", "cold_after_seconds": 0},
    "read": {"path": ENTRY.path}, "header": {"path": ENTRY.path}, "list": {"archived": False},
    "find": {"rollout_id": UUID_A}, "search": {"text": "x", "archived": True},
    "create": {"path": ENTRY.path, "lines": ["{}"]}, "append": {"path": ENTRY.path, "lines": []},
    "open_writer": {"path": ENTRY.path}, "write": {"handle": "w1", "line": "{}"},
    "close_writer": {"handle": "w1"}, "materialize": {"path": ENTRY.path}, "compress": {"path": ENTRY.path},
    "run_worker": {}, "cleanup": {}, "archive": {"path": ENTRY.path}, "unarchive": {"path": ENTRY.path},
    "delete": {"path": ENTRY.path}, "shutdown": {}, "reopen": {},
}


def test_every_op_has_an_example() -> None:
    assert set(VALUES) == set(REQUESTS) == set(protocol.OPS)


@pytest.mark.parametrize("op", list(protocol.OPS))
def test_good_messages_validate_and_round_trip(op: str) -> None:
    assert protocol.validate_request({"id": 7, "op": op, **REQUESTS[op]}) == op
    response = protocol.success(7, protocol.encode_result(op, VALUES[op]))
    protocol.validate_response(op, json.loads(json.dumps(response)))
    assert protocol.decode_result(op, response["result"]) == VALUES[op]
    protocol.validate_response(op, protocol.failure(7, "busy", "held", ENTRY.path))


@pytest.mark.parametrize(
    "request_",
    [
        {"id": 1, "op": "read"},  # missing path
        {"id": 1, "op": "read", "path": ENTRY.path, "extra": 1},
        {"id": -1, "op": "list", "archived": False},
        {"id": 1, "op": "teleport"},
        {"id": 1, "op": "hello", "protocol": 2},
        {"id": "1", "op": "cleanup"},
        {"id": 1, "op": "create", "path": ENTRY.path, "lines": "not a list"},
        [1, 2],
    ],
)
def test_bad_requests_are_rejected(request_) -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.validate_request(request_)


@pytest.mark.parametrize(
    ("op", "response"),
    [
        ("compress", {"id": 1, "ok": True, "result": {"outcome": "squashed"}}),
        ("find", {"id": 1, "ok": True, "result": {}}),
        ("read", {"id": 1, "ok": True, "result": {"content_b64": "", "items": 0, "parse_errors": 0,
                                                   "representation": "gzip", "physical_path": "x"}}),
        ("delete", {"id": 1, "ok": False, "error": {"kind": "oops", "message": "m", "path": None}}),
        ("delete", {"id": 1, "ok": False, "error": {"kind": "busy", "message": "m"}}),
        ("hello", {"id": 1, "ok": True, "result": {**protocol.encode_hello(VALUES["hello"]), "protocol": 2}}),
    ],
)
def test_bad_responses_are_rejected(op: str, response: dict) -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.validate_response(op, response)


# -- the server --------------------------------------------------------------------------------


class CannedStore:
    """A reader-only store with canned answers, recording whether it was closed."""

    closed = False

    def hello(self) -> Hello:
        return Hello(1, "canned", "0", ("reader",))

    def configure(self, home: str, cold_after_seconds: float) -> None:
        pass

    def read(self, path: str) -> ReadResult:
        raise NotFoundError("no such rollout", path=path)

    def list(self, archived: bool = False) -> list[RolloutEntry]:
        return [ENTRY]

    def find(self, rollout_id: str) -> RolloutEntry | None:
        raise RuntimeError("boom")

    def search(self, text: str, archived: bool = False) -> list[SearchHit]:
        return [SearchHit(ENTRY.path, 0)]  # line numbers are 1-based: off protocol

    def close(self) -> None:
        self.closed = True


def converse(store, lines: list[str | dict]) -> list[dict]:
    stdin = io.BytesIO(b"".join((json.dumps(x) if isinstance(x, dict) else x).encode() + b"\n" for x in lines))
    stdout = io.BytesIO()
    serve(store, stdin, stdout)
    return [json.loads(line) for line in stdout.getvalue().splitlines()]


def test_server_maps_every_failure_to_a_kind() -> None:
    store = CannedStore()
    answers = converse(store, [
        {"id": 1, "op": "hello", "protocol": 1},
        "{not json",
        {"id": 2, "op": "teleport"},
        {"id": 3, "op": "read"},
        {"id": 4, "op": "read", "path": ENTRY.path},
        {"id": 5, "op": "list", "archived": False},
        {"id": 6, "op": "find", "rollout_id": UUID_A},
        {"id": 7, "op": "create", "path": ENTRY.path, "lines": []},
        {"id": 8, "op": "search", "text": "x", "archived": False},
        {"id": 9, "op": "shutdown"},
        {"id": 10, "op": "list", "archived": False},
    ])
    assert answers[0]["result"] == {"protocol": 1, "name": "canned", "version": "0",
                                    "capabilities": ["reader"], "failpoints": [], "coordination": [],
                                    "scope": ["sessions", "archived_sessions"]}
    kinds = [(a["id"], a["error"]["kind"]) for a in answers[1:] if not a["ok"]]
    assert kinds == [(None, "bad_request"), (2, "bad_request"), (3, "bad_request"), (4, "not_found"),
                     (6, "internal"), (7, "unsupported"), (8, "internal")]
    assert answers[4]["error"]["path"] == ENTRY.path
    assert "boom" in answers[6]["error"]["message"]
    assert answers[5]["result"]["entries"][0]["path"] == ENTRY.path
    assert answers[-1] == {"id": 9, "ok": True, "result": {}}  # nothing answered after shutdown
    for answer in answers:
        protocol.validate_response({1: "hello", 5: "list", 9: "shutdown"}.get(answer["id"], "read"), answer)
    assert store.closed


def test_server_over_os_pipes_with_the_reference(tmp_path: Path) -> None:
    from reference.store import ReferenceStore

    (tmp_path / "sessions").mkdir()
    read_in, write_in = os.pipe()
    read_out, write_out = os.pipe()
    requests = [{"id": 1, "op": "hello", "protocol": 1},
                {"id": 2, "op": "configure", "home": str(tmp_path), "cold_after_seconds": 0},
                {"id": 3, "op": "list", "archived": False}, {"id": 4, "op": "shutdown"}]
    os.write(write_in, b"".join(json.dumps(r).encode() + b"\n" for r in requests))
    os.close(write_in)
    with open(read_in, "rb") as stdin, open(write_out, "wb") as stdout:
        serve(ReferenceStore(), stdin, stdout)
    with open(read_out, "rb") as out:
        answers = [json.loads(line) for line in out]
    for request, answer in zip(requests, answers, strict=True):
        protocol.validate_response(request["op"], answer)
    assert set(answers[0]["result"]["capabilities"]) == set(CAPABILITIES)
    assert answers[2]["result"] == {"entries": []}


# -- CommandStore against the reference served over stdio --------------------------------------


def meta(rollout_id: str) -> str:
    return json.dumps({"timestamp": "2025-01-03T12:00:00.000Z", "type": "session_meta", "payload": {"id": rollout_id}})


def test_command_store_drives_the_reference(tmp_path: Path) -> None:
    path = f"{DAY}/rollout-2025-01-03T12-00-00-{UUID_A}.jsonl"
    store = open_store(f"cmd:{SERVE_REFERENCE}")
    try:
        assert set(store.hello().capabilities) == set(CAPABILITIES)
        store.configure(str(tmp_path), 0)
        assert store.create(path, [meta(UUID_A)]) == path
        handle = store.open_writer(path)
        store.write(handle, '{"type":"event_msg","payload":{"type":"user_message","message":"hi"}}')
        store.close_writer(handle)
        assert store.compress(path) == "compressed"
        result = store.read(path)
        assert (result.items, result.parse_errors, result.representation) == (2, 0, "zst")
        assert result.content.startswith(meta(UUID_A).encode() + b"\n")
        assert store.header(path) == {"id": UUID_A}
        assert store.find(UUID_A).physical_path == path + ".zst"
        assert store.search("hi") == [SearchHit(path, 2)]
        archived = store.archive(path)
        assert [e.path for e in store.list(archived=True)] == [archived]
        assert store.unarchive(archived) == path
        assert store.materialize(path) is True
        assert isinstance(store.cleanup(), CleanupReport)
        assert store.run_worker().ran is True
        store.delete(path)
        with pytest.raises(NotFoundError) as caught:
            store.read(path)
        assert caught.value.path == path
        with pytest.raises(InvalidNameError):
            store.read(f"{DAY}/rollout-2025-01-03T12-00-00-not-a-uuid.jsonl")
    finally:
        store.close()
    with pytest.raises(Inconclusive, match="closed"):
        store.list()


# -- misbehaving programs ----------------------------------------------------------------------

FAKE = textwrap.dedent('''
    import json, os, subprocess, sys, time
    mode = sys.argv[1]
    hello = {"protocol": 1, "name": os.environ.get("ROLLOUT_FAILPOINT_SOCKET", "fake"), "version": "0",
             "capabilities": ["reader"], "failpoints": []}
    for number, line in enumerate(sys.stdin):
        request = json.loads(line)
        print(f"fake got {request['op']}", file=sys.stderr, flush=True)
        if number == 0:
            if mode == "hang":
                time.sleep(600)
            if mode == "wrong_version":
                hello["protocol"] = 2
            if mode == "spawn":
                hello["name"] = str(subprocess.Popen(["sleep", "600"]).pid)
            print(json.dumps({"id": request["id"], "ok": True, "result": hello}), flush=True)
            continue
        if mode == "exit":
            sys.exit(3)
        if mode == "garbage":
            print("this is not json", flush=True)
        if mode == "wrong_id":
            print(json.dumps({"id": request["id"] + 1, "ok": True, "result": {"entries": []}}), flush=True)
        if mode == "off_schema" or (mode == "late_off_schema" and number > 50):
            print(json.dumps({"id": request["id"], "ok": True, "result": {"entries": [{"path": 1}]}}), flush=True)
        if mode == "late_off_schema" and number <= 50:
            print(json.dumps({"id": request["id"], "ok": True, "result": {"entries": []}}), flush=True)
        if mode in ("lie", "spawn"):
            error = {"kind": "unsupported", "message": "not really", "path": None}
            print(json.dumps({"id": request["id"], "ok": False, "error": error}), flush=True)
''')


@pytest.fixture
def fake(tmp_path: Path):
    script = tmp_path / "fake_store.py"
    script.write_text(FAKE)
    return lambda mode: f"{sys.executable} {script} {mode}"


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("exit", "exited with status 3 before answering list"),
        ("garbage", "answered list with a line that is not JSON: b'this is not json'"),
        ("wrong_id", "mismatched id"),
        ("off_schema", "answered list outside the protocol"),
        ("lie", "declared the 'reader' capability in hello but answered list with unsupported"),
    ],
)
def test_misbehaviour_mid_session_is_inconclusive(fake, mode: str, reason: str) -> None:
    store = CommandStore(fake(mode), timeout=10)
    with pytest.raises(Inconclusive) as caught:
        store.list()
    assert reason in caught.value.reason
    assert "fake got list" in caught.value.stderr_tail
    with pytest.raises(Inconclusive, match="session already ended"):
        store.list()
    store.close()


@pytest.mark.parametrize("strict", [True, False])
def test_an_off_schema_answer_late_in_a_session_is_inconclusive(fake, strict: bool) -> None:
    """Strict: the first off-schema answer is caught; sampled: a persistent one within SchemaSampling.EVERY."""
    store = CommandStore(fake("late_off_schema"), timeout=10, strict=strict)
    for _ in range(50):
        assert store.list() == []
    with pytest.raises(Inconclusive, match="answered list outside the protocol"):
        for _ in range(1 if strict else protocol.SchemaSampling.EVERY):
            store.list()
    store.close()


def test_a_served_store_checks_a_late_request_that_breaks_the_store(tmp_path: Path) -> None:
    """An unsampled request that makes the store fail is checked then, and answered bad_request."""
    store = CannedStore()
    late = [{"id": n, "op": "list", "archived": False} for n in range(2, 40)]
    answers = converse(store, [{"id": 1, "op": "hello", "protocol": 1}, *late,
                               {"id": 40, "op": "list", "archived": False, "extra": 1}])
    assert answers[-1]["error"]["kind"] == "bad_request"
    assert "extra" in answers[-1]["error"]["message"]


def test_a_hung_program_is_inconclusive_after_the_timeout(fake) -> None:
    started = time.monotonic()
    with pytest.raises(Inconclusive) as caught:
        CommandStore(fake("hang"), timeout=1.0)
    assert time.monotonic() - started < 10
    assert "did not answer hello within 1 s" in caught.value.reason
    assert "fake got hello" in caught.value.stderr_tail
    assert caught.value.returncode == -9  # the process group was killed


def test_a_wrong_protocol_version_is_inconclusive(fake) -> None:
    with pytest.raises(Inconclusive, match="speaks protocol 2; this suite speaks protocol 1"):
        CommandStore(fake("wrong_version"))


def test_a_missing_program_is_inconclusive_with_the_fix() -> None:
    with pytest.raises(Inconclusive, match="check the cmd: command line"):
        CommandStore("/nonexistent/store-program --flag")


def test_inconclusive_is_not_a_store_error() -> None:
    from conformance.api.errors import StoreError

    assert not issubclass(Inconclusive, StoreError)


def test_environment_reaches_the_program_and_close_kills_the_group(fake, monkeypatch) -> None:
    monkeypatch.setenv("ROLLOUT_FAILPOINT_SOCKET", "/tmp/fp.sock")
    assert CommandStore(fake("lie")).hello().name == "/tmp/fp.sock"
    store = CommandStore(fake("spawn"))
    grandchild = int(store.hello().name)
    with pytest.raises(UnsupportedError):
        store.create(ENTRY.path, [])  # undeclared capability: refused locally, never sent
    store.close()
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


# -- selection ---------------------------------------------------------------------------------


def test_selection_forms() -> None:
    assert "reference" in describe("reference")
    assert "stdio" in describe("cmd:perl reader.pl")
    assert "reference.store.ReferenceStore()" in describe("py:reference.store:ReferenceStore")
    store = open_store("py:reference.store:ReferenceStore")
    assert store.hello().name == "reference"
    store.close()


@pytest.mark.parametrize(
    "selection",
    ["", "refrence", "cmd:", "py:reference.store", "py:no_such_module_xyz:make", "py:reference.store:Nope",
     "mutant:no-such-mutant", "docker:thing"],
)
def test_bad_selections_explain_the_forms(selection: str) -> None:
    with pytest.raises(SelectionError, match="Accepted forms: reference .*py:package.module:factory.*cmd:.*mutant:"):
        open_store(selection)


# -- the Perl reader adapter -------------------------------------------------------------------


@pytest.fixture
def perl_home(tmp_path: Path) -> Path:
    if not shutil.which("perl") or not shutil.which("zstd"):
        pytest.skip("the Perl adapter needs perl and the zstd CLI (apt-get install zstd)")
    day = tmp_path / DAY
    day.mkdir(parents=True)
    (tmp_path / "archived_sessions").mkdir()
    plain = day / f"rollout-2025-01-03T12-00-00-{UUID_A}.jsonl"
    plain.write_text(meta(UUID_A) + "\n\n{junk\n" + '{"type":"event_msg","payload":{"needle":1}}\n{"torn')
    stale = zstandard.ZstdCompressor().compress(b"hidden\n")
    Path(f"{plain}.zst").write_bytes(stale)  # hidden: the plain sibling wins
    compressed = day / f"rollout-2025-01-03T12-00-01-{UUID_B}.jsonl.zst"
    compressed.write_bytes(zstandard.ZstdCompressor().compress((meta(UUID_B) + "\nneedle\n").encode()))
    Path(f"{compressed}.compress.1.0.tmp").write_bytes(b"temp")
    archived = tmp_path / "archived_sessions" / f"rollout-2025-01-02T12-00-00-{UUID_C}.jsonl"
    archived.write_text(meta(UUID_C) + "\n")
    for age, path in enumerate([plain, compressed, archived]):
        os.utime(path, ns=(1_700_000_000_123_456_789 + age, 1_700_000_000_123_456_789 + age))
    return tmp_path


def test_perl_reader_matches_the_reference(perl_home: Path) -> None:
    perl = CommandStore(f"perl {PERL_READER}")
    reference = open_store("reference")
    try:
        assert perl.hello().capabilities == ("reader",)
        for store in (perl, reference):
            store.configure(str(perl_home), 0)
        zst_path = f"{DAY}/rollout-2025-01-03T12-00-01-{UUID_B}.jsonl.zst"
        for path in (f"{DAY}/rollout-2025-01-03T12-00-00-{UUID_A}.jsonl", zst_path):
            assert perl.read(path) == reference.read(path)
            assert perl.header(path) == reference.header(path)
        assert perl.read(zst_path).representation == "zst"
        for archived in (False, True):
            assert perl.list(archived) == reference.list(archived)
            assert perl.search("needle", archived) == reference.search("needle", archived)
        assert [e.id for e in perl.list()] == [UUID_B, UUID_A]
        assert perl.find(UUID_B.upper()) == reference.find(UUID_B)
        assert perl.find(UUID_C).archived is True
        assert perl.find("not-a-uuid") is None
        with pytest.raises(InvalidNameError):
            perl.read(f"{DAY}/rollout-2025-01-03T12-00-00-not-a-uuid.jsonl")
        with pytest.raises(NotFoundError):
            perl.read(f"{DAY}/rollout-2025-01-03T12-00-09-{UUID_C}.jsonl")
        with pytest.raises(UnsupportedError):
            perl.append(zst_path, ["{}"])
    finally:
        perl.close()
        reference.close()


def test_perl_reader_answers_unsupported_for_other_profiles(perl_home: Path) -> None:
    requests = [{"id": 1, "op": "hello", "protocol": 1}, {"id": 2, "op": "compress", "path": "x"},
                {"id": 3, "op": "shutdown"}]
    done = subprocess.run(["perl", str(PERL_READER)], input="".join(json.dumps(r) + "\n" for r in requests),
                          capture_output=True, text=True, timeout=30, check=True)
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    for request, answer in zip(requests, answers, strict=True):
        protocol.validate_response(request["op"], answer)
    assert answers[1]["error"]["kind"] == "unsupported"
