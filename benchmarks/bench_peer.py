"""(10) The real peer: the reference worker vs codex 0.171.0's own compression pass on the same home.

Homes: 1,000 small cold rollouts (2-40 KB) and, in the full run, three cold rollouts of 100 MB.
Each repeat copies the home twice (mtimes kept, so every rollout stays cold) and times, alternately:
- reference: ``rollout-conformance compress --home COPY`` (wall, process start-up included), and the
  same pass in this process (``worker.run``) with every ``os.fsync`` timed and classed as file or folder;
- codex: ``codex app-server --listen stdio://`` on COPY (``CODEX_HOME``), ``initialize`` with the
  experimental API, ``initialized``, then ``rollout/compress``; timed from the request to the stderr
  line ``rollout compression worker finished`` (``RUST_LOG=codex_rollout=debug``); the app-server's
  own start-up is timed separately and not counted.
codex is found at ``$ROLLOUT_CODEX_BIN``, under ``.codex-install/`` or as ``codex`` on PATH, and must
print ``codex-cli 0.171.0``; without it this group is skipped and the report says so.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from conformance.oracle import disk as oracle

from benchmarks import data
from benchmarks.data import MB
from benchmarks.timing import Settings

ROOT = Path(__file__).resolve().parent.parent
CODEX_VERSION = "codex-cli 0.171.0"
FINISHED = "rollout compression worker finished"
CONFIG = ('model_provider = "openai"\nopenai_base_url = "http://127.0.0.1:9/v1"\nmodel = "offline"\n'
          "suppress_unstable_features_warning = true\n")
PASS_TIMEOUT_S = 600.0


def find_codex() -> tuple[str | None, str]:
    """(path of a codex 0.171.0 binary, or None; what was looked at)."""
    candidates = [os.environ.get("ROLLOUT_CODEX_BIN")]
    candidates += sorted(str(p) for p in (ROOT / ".codex-install").glob("**/bin/codex"))
    candidates.append(shutil.which("codex"))
    for candidate in filter(None, candidates):
        try:
            out = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.strip() == CODEX_VERSION:
            return candidate, candidate
    return None, (f"no {CODEX_VERSION} binary ($ROLLOUT_CODEX_BIN, .codex-install/, codex on PATH); "
                  "install it with `npm install @openai/codex@0.171.0` and set ROLLOUT_CODEX_BIN")


class _AppServer:
    """One ``codex app-server`` on a home, spoken to in JSON-RPC lines; stderr is watched for the pass end."""

    def __init__(self, codex: str, home: Path, scratch: Path) -> None:
        env = {**os.environ, "CODEX_HOME": str(home), "HOME": str(scratch), "OPENAI_API_KEY": "x",
               "RUST_LOG": "codex_rollout=debug"}
        started = time.perf_counter()
        self.proc = subprocess.Popen([codex, "app-server", "--listen", "stdio://"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=scratch)
        self._next = 1
        self._stderr = b""
        self._stdout = b""
        self.call("initialize", {"clientInfo": {"name": "rollout-benchmarks", "version": "1"},
                                 "capabilities": {"experimentalApi": True}})
        self._send({"jsonrpc": "2.0", "method": "initialized"})
        self.startup_s = time.perf_counter() - started

    def _send(self, message: dict) -> None:
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def _pump(self, deadline: float) -> None:
        """Read what is available on stdout/stderr; answer requests from the server with an error."""
        fds = [self.proc.stdout.fileno(), self.proc.stderr.fileno()]
        ready, _, _ = select.select(fds, [], [], max(0.0, deadline - time.monotonic()))
        if not ready and time.monotonic() >= deadline:
            raise TimeoutError(f"codex app-server gave no answer in time; stderr tail: {self._stderr[-600:]!r}")
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise RuntimeError(f"codex app-server exited; stderr tail: {self._stderr[-600:]!r}")
            if fd == fds[1]:
                self._stderr += chunk
            else:
                self._stdout += chunk

    def _messages(self):
        while b"\n" in self._stdout:
            line, self._stdout = self._stdout.split(b"\n", 1)
            if line.strip():
                message = json.loads(line)
                if "method" in message and "id" in message:  # a request to us: refuse it so it never waits
                    self._send({"jsonrpc": "2.0", "id": message["id"],
                                "error": {"code": -32601, "message": "not supported by the benchmark"}})
                    continue
                yield message

    def call(self, method: str, params) -> dict:
        request_id, self._next = self._next, self._next + 1
        self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        deadline = time.monotonic() + 120
        while True:
            for message in self._messages():
                if message.get("id") == request_id:
                    if "error" in message:
                        raise RuntimeError(f"codex {method} failed: {message['error']}")
                    return message
            self._pump(deadline)

    def compress_pass(self) -> tuple[float, str]:
        """Seconds from ``rollout/compress`` to the 'worker finished' log line, and that line."""
        seen = len(self._stderr)
        started = time.perf_counter()
        self.call("rollout/compress", None)
        deadline = time.monotonic() + PASS_TIMEOUT_S
        while FINISHED.encode() not in self._stderr[seen:]:
            list(self._messages())
            self._pump(deadline)
        elapsed = time.perf_counter() - started
        tail = self._stderr[seen:].decode(errors="replace")
        return elapsed, next(line for line in tail.splitlines() if FINISHED in line)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except OSError:
                pass  # stdin of a killed process


def _rollout_files(home: Path) -> tuple[int, int]:
    """(plain rollouts, compressed rollouts) under the home's two areas."""
    plain = zst = 0
    for area in ("sessions", "archived_sessions"):
        for _folder, _dirs, files in os.walk(home / area):
            plain += sum(1 for f in files if f.endswith(".jsonl"))
            zst += sum(1 for f in files if f.endswith(".jsonl.zst"))
    return plain, zst


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("rollout-conformance")
    return [str(script)] if script.exists() else [sys.executable, "-m", "conformance.cli"]


def _reference_cli(home: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run([*_cli(), "compress", "--home", str(home)], cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"rollout-conformance compress failed ({done.returncode}): {done.stderr[-600:]}")
    return elapsed


def _reference_in_process(home: Path) -> dict:
    """One worker pass in this process with every os.fsync timed (file or folder)."""
    import stat

    from reference import worker
    from reference.home import Home

    spent = {"file": [], "folder": []}
    real_fsync = os.fsync

    def timed_fsync(fd: int) -> None:
        kind = "folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        started = time.perf_counter()
        real_fsync(fd)
        spent[kind].append(time.perf_counter() - started)

    os.fsync = timed_fsync
    try:
        started = time.perf_counter()
        report = worker.run(Home.open(str(home)))
        elapsed = time.perf_counter() - started
    finally:
        os.fsync = real_fsync
    outcomes: dict[str, int] = {}
    for result in report.results.values():
        outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
    return {"seconds": elapsed, "outcomes": outcomes,
            "fsync": {kind: {"count": len(times), "seconds": sum(times)} for kind, times in spent.items()}}


def _copy(master: Path, target: Path) -> Path:
    shutil.copytree(master, target, symlinks=True)  # copy2: mtimes kept, the rollouts stay cold
    (target / "config.toml").write_text(CONFIG)
    return target


def _compare(name: str, master: Path, repeats: int, codex: str, work: Path, log) -> dict:
    rows = []
    for i in range(repeats):
        row: dict = {}
        order = ["reference", "codex"] if i % 2 == 0 else ["codex", "reference"]
        for side in order:
            home = _copy(master, work / f"{name}-{side}-{i}")
            if side == "reference":
                row["reference_cli_s"] = _reference_cli(home)
                row["reference_after"] = _rollout_files(home)
                again = _copy(master, work / f"{name}-inproc-{i}")
                row["reference_in_process"] = _reference_in_process(again)
                shutil.rmtree(again, ignore_errors=True)
            else:
                scratch = work / f"{name}-scratch-{i}"
                scratch.mkdir()
                server = _AppServer(codex, home, scratch)
                try:
                    row["codex_s"], row["codex_log"] = server.compress_pass()
                    row["codex_startup_s"] = server.startup_s
                finally:
                    server.close()
                row["codex_after"] = _rollout_files(home)
                shutil.rmtree(scratch, ignore_errors=True)
            shutil.rmtree(home, ignore_errors=True)
        rows.append(row)
        log(f"peer {name} #{i}: reference CLI {row['reference_cli_s']:.2f} s (in process "
            f"{row['reference_in_process']['seconds']:.2f} s), codex pass {row['codex_s']:.2f} s "
            f"(+{row['codex_startup_s']:.2f} s app-server start)")
    ref_cli = statistics.median(r["reference_cli_s"] for r in rows)
    ref_in = statistics.median(r["reference_in_process"]["seconds"] for r in rows)
    codex_s = statistics.median(r["codex_s"] for r in rows)
    fsync = {kind: statistics.median(r["reference_in_process"]["fsync"][kind]["seconds"] for r in rows)
             for kind in ("file", "folder")}
    counts = {kind: rows[0]["reference_in_process"]["fsync"][kind]["count"] for kind in ("file", "folder")}
    return {"rows": rows, "reference_cli_s": ref_cli, "reference_in_process_s": ref_in, "codex_s": codex_s,
            "ratio_cli": codex_s / ref_cli, "ratio_in_process": codex_s / ref_in,
            "fsync_s": fsync, "fsync_count": counts,
            "ratio_in_process_without_folder_fsync": codex_s / max(ref_in - fsync["folder"], 1e-9)}


def run(settings: Settings, work: Path, log) -> dict:
    codex, looked = find_codex()
    if codex is None or not settings.peer_small_files:
        why = looked if codex is None else f"{settings.name} mode does not run codex"
        log(f"peer: skipped ({why})")
        return {"skipped": why}
    out: dict = {"codex": codex, "version": CODEX_VERSION, "homes": {}}
    small = work / "peer-small"
    manifest = data.small_home(small, settings.peer_small_files, seed=2)
    out["homes"]["small"] = {"rollouts": manifest["count"], "bytes": manifest["bytes"],
                             **_compare("small", small, settings.repeats, codex, work, log)}
    shutil.rmtree(small, ignore_errors=True)
    if settings.peer_big_files:
        big = work / "peer-big"
        total = 0
        month_ago = time.time_ns() - 30 * 86400 * 10**9
        for i in range(settings.peer_big_files):
            name, rid = data.rollout_name(i, 11)
            total += data.write_rollout(big / oracle.active_path(name), 100 * MB, 11 + i, rid, month_ago)
        out["homes"]["big"] = {"rollouts": settings.peer_big_files, "bytes": total,
                               **_compare("big", big, settings.big_repeats, codex, work, log)}
        shutil.rmtree(big, ignore_errors=True)
    return out
