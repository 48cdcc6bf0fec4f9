"""Codex releases side by side: install layouts, ``codex:VERSION``, and what a probed release declares.

The tests on real releases need ``rollout-conformance codex install 0.146.0 0.171.0`` (``.ci/run`` does
it; without npm or the registry they skip and say so).  0.146.0 has no ``rollout/compress`` request
and its sessions hold no writer lock; 0.171.0 has both.
"""

from __future__ import annotations

import os
import re
import stat

import pytest

from conformance.api.errors import Inconclusive
from conformance.api.store import UndeclaredCapabilityError
from conformance.stores.codex import install as releases
from conformance.stores.codex.facts import probe
from conformance.stores.selection import SelectionError, default_reader, describe, open_store
from helpers.cli import cli

LOCKLESS, LOCKING = "0.146.0", "0.171.0"
WEEK = 7 * 86_400


def needs_release(version: str):
    reason = releases.missing_reason(version)
    return pytest.mark.skipif(reason is not None, reason=f"codex {version} not installed: {reason}")


def _fake_release(folder, version: str, layout: str) -> str:
    """A script standing in for a release's binary at ``layout`` inside its package folder."""
    path = folder / version / "node_modules" / "@openai" / "codex" / layout
    path.parent.mkdir(parents=True)
    path.write_text(f"#!/bin/sh\necho codex-cli {version}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_releases_install_side_by_side_in_either_binary_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("ROLLOUT_CONFORMANCE_CODEX_DIR", str(tmp_path))
    old = _fake_release(tmp_path, "0.130.0", "vendor/x86_64-unknown-linux-musl/codex/codex")
    new = _fake_release(tmp_path, "0.145.0", "vendor/x86_64-unknown-linux-musl/bin/codex")
    assert releases.installed_versions() == ["0.130.0", "0.145.0"]
    assert releases.find_binary("0.130.0") == old and releases.find_binary("0.145.0") == new
    assert releases.binary_version(old) == "codex-cli 0.130.0"
    with pytest.raises(releases.CodexMissing, match="codex install 0.99.0"):
        releases.find_binary("0.99.0")


def test_releases_order_by_number_not_by_text():
    ordered = sorted(["0.99.0", "0.130.0", "0.148.0-alpha.8", "0.148.0", "0.13.0"], key=releases.version_key)
    assert ordered == ["0.13.0", "0.99.0", "0.130.0", "0.148.0-alpha.8", "0.148.0"]


def test_codex_version_and_path_selections_parse_and_a_bad_number_is_refused():
    assert "release 0.145.0" in describe("codex:0.145.0")
    assert "/opt/codex" in describe("codex:/opt/codex")
    assert "pinned install" in describe("codex")
    with pytest.raises(SelectionError, match="neither a release number"):
        describe("codex:0.145")


def test_a_campaigns_readers_default_to_a_store_that_reads():
    assert default_reader("codex:0.145.0", "reference") == "reference"
    assert default_reader("codex:0.145.0", "codex:0.171.0") == "reference"
    assert default_reader("reference:inode-flock", "codex") == "reference:inode-flock"
    assert default_reader("codex", "mutant:no-fsync") == "mutant:no-fsync"


def test_an_uninstalled_release_is_inconclusive_with_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("ROLLOUT_CONFORMANCE_CODEX_DIR", str(tmp_path))
    store = open_store("codex:0.99.0")
    with pytest.raises(Inconclusive, match="rollout-conformance codex install 0.99.0"):
        store.hello()


@needs_release(LOCKLESS)
def test_a_release_without_rollout_compress_declares_only_what_it_does(tmp_path):
    store = open_store(f"codex:{LOCKLESS}")
    try:
        hello = store.hello()
        assert hello.version == f"codex-cli {LOCKLESS}"
        assert hello.capabilities == ("session-writer",) and hello.coordination == ()
        store.configure(os.fspath(tmp_path), WEEK)
        with pytest.raises(UndeclaredCapabilityError, match=f"codex-cli {LOCKLESS} has no rollout/compress") as caught:
            store.run_worker()
        assert caught.value.capability == "compressor"
        with pytest.raises(UndeclaredCapabilityError) as caught:
            store.read("sessions/2025/01/03/rollout-2025-01-03T12-00-00-0199a213-81c0-7800-8aa1-bbab2a035a53.jsonl")
        assert f"codex-cli {LOCKLESS} offers" in str(caught.value) and LOCKING not in str(caught.value)
    finally:
        store.close()


@needs_release(LOCKING)
def test_a_release_with_rollout_compress_and_writer_locks_declares_both():
    facts = probe(releases.find_binary(LOCKING))
    assert (facts.has_compress, facts.resume_holds_writer_lock, facts.reads_zst) == (True, True, True)
    assert facts.capabilities() == ("compressor", "session-writer")
    assert facts.coordination() == ("codex-thread-locks",) and facts.limits() == ()


@needs_release(LOCKLESS)
def test_the_compressor_suite_on_a_release_without_rollout_compress_skips_with_the_reason():
    done = cli("suite", "--store", f"codex:{LOCKLESS}", "--profile", "compressor", timeout=900)
    assert done.returncode in (0, 3), done.stdout[-3000:] + done.stderr[-3000:]
    assert "COMP-001" in done.stdout and "store did not declare capability compressor" in done.stdout
    statuses = {row.split()[3] for row in done.stdout.splitlines() if re.match(r"[A-Z]+-\d{3}\s", row)}
    assert "failed" not in statuses and "skipped" in statuses


def test_codex_install_refuses_what_is_not_a_release_number(tmp_path):
    done = cli("codex", "install", "0.145", "--folder", str(tmp_path))
    assert done.returncode == 1 and "'0.145' is not a release number" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_codex_list_says_how_to_install_when_nothing_is(tmp_path):
    done = cli("codex", "list", env={**os.environ, "ROLLOUT_CONFORMANCE_CODEX_DIR": str(tmp_path)})
    assert done.returncode == 0 and "rollout-conformance codex install VERSION" in done.stdout


@needs_release(LOCKING)
def test_a_process_forked_after_starting_codex_can_start_codex_again(tmp_path):
    """A race actor forked by a process that already ran codex (``versions`` does) starts its own."""
    import signal
    import time

    from conformance.stores.codex import launch

    binary = releases.find_binary(LOCKING)
    launch.start(binary, str(tmp_path), str(tmp_path), 60).close()
    child = os.fork()
    if child == 0:
        code = 1
        try:
            launch.start(binary, str(tmp_path), str(tmp_path), 60).close()
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 120  # a hang detector, not a timing assertion
    while time.monotonic() < deadline:
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.1)
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    pytest.fail("the forked child never got its codex started (it waited on its parent's spawner thread)")
