"""The one generator of realistic homes: its manifest is ground truth about the files it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime

from conformance.oracle import disk as oracle
from conformance.oracle.homegen import realistic_home

NOW_NS = 1_800_000_000 * 10**9


def _lines(home, rollout):
    return [json.loads(raw) for raw in oracle.logical_content(home, rollout.logical).splitlines()]


def _ns(ts: str) -> int:
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000) * 10**6


def test_manifest_is_the_truth_about_every_file(tmp_path):
    m = realistic_home(tmp_path, 40, seed=5, now_ns=NOW_NS, large_bytes=1 << 20)
    assert len({r.marker for r in m.rollouts}) == 40 and len({r.id for r in m.rollouts}) == 40
    assert not any(r.compressed for r in m.rollouts)  # nothing compressed unless asked
    assert any(r.archived for r in m.rollouts) and any(not r.archived for r in m.rollouts)
    assert any(r.old for r in m.rollouts) and any(not r.old for r in m.rollouts)
    spread_days = (max(r.mtime_ns for r in m.rollouts) - min(r.mtime_ns for r in m.rollouts)) / 86_400e9
    assert spread_days > 21
    for r in m.rollouts:
        lines = _lines(tmp_path, r)
        meta = lines[0]
        assert meta["type"] == "session_meta" and meta["payload"]["id"] == r.id
        assert meta["payload"]["timestamp"] == r.started == meta["timestamp"]
        users = [x["payload"]["message"] for x in lines if x["payload"].get("type") == "user_message"]
        assert users[0].startswith(r.marker)
        counts = [x["payload"]["info"] for x in lines if x["payload"].get("type") == "token_count"]
        running = {}
        for info in counts:
            for key, value in info["last_token_usage"].items():
                running[key] = running.get(key, 0) + value
            assert info["total_token_usage"] == running
        assert counts[-1]["total_token_usage"] == r.tokens
        stamps = [x["timestamp"] for x in lines]
        assert stamps == sorted(stamps) and stamps[-1] == r.ended
        assert os.stat(tmp_path / r.logical).st_mtime_ns == _ns(r.ended)
    largest = max(m.rollouts, key=lambda r: r.size)
    assert largest.size > 1 << 20 and max(len(raw) for raw in oracle.logical_content(tmp_path, largest.logical)
                                          .splitlines()) > 1 << 20


def test_same_seed_same_home_in_another_process(tmp_path):
    code = ("import json,sys; from conformance.oracle.homegen import realistic_home; "
            f"m = realistic_home(sys.argv[1], 12, seed=9, now_ns={NOW_NS}); "
            "print(json.dumps([(r.logical, r.marker, r.sha256, r.mtime_ns) for r in m.rollouts]))")
    runs = [subprocess.run([sys.executable, "-c", code, str(tmp_path / name)], capture_output=True, text=True,
                           check=True).stdout for name in ("a", "b")]
    assert runs[0] == runs[1] and json.loads(runs[0])


def test_demo_home_cli_writes_the_manifest_outside_the_home(tmp_path):
    out = subprocess.run([sys.executable, "-m", "conformance.cli", "demo-home", str(tmp_path / "home"), "--count", "30",
                          "--nothing-compressed", "--manifest", str(tmp_path / "truth.json")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert len(truth["rollouts"]) == 30 and not any(r["compressed"] for r in truth["rollouts"])
    assert truth["totals"]["total_tokens"] == sum(r["tokens"]["total_tokens"] for r in truth["rollouts"])
    assert f"{truth['totals']['total_tokens']} tokens in all" in out.stdout
    assert not list((tmp_path / "home").rglob("*.zst"))
