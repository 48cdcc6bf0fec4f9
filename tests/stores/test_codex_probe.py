"""``codex probe``: the codex binaries found on this machine and what each would do on a compressed home."""

from __future__ import annotations

import os

import pytest

from conformance.stores.codex import install as releases
from conformance.stores.codex.discover import CANNOT_SEE, LOSES_WRITES, SAFE, candidates, judge
from conformance.stores.codex.facts import CodexFacts, probe


def _facts(**changes) -> CodexFacts:
    base = dict(binary="/x/codex", printed="codex-cli 9.9.9", has_compress=True, compress_error="", resume_works=True,
                resume_error="", resume_holds_writer_lock=True, reads_zst=True, zst_error="")
    return CodexFacts(**{**base, **changes})


def test_a_release_is_judged_by_what_it_was_seen_to_do():
    assert judge(_facts())[0] == SAFE
    assert judge(_facts(reads_zst=False, zst_error="-32603 stream did not contain valid UTF-8"))[0] == CANNOT_SEE
    verdict, why = judge(_facts(resume_holds_writer_lock=False, reads_zst=False, zst_error="-32603 x"))
    assert verdict == LOSES_WRITES and "writer-locks" in why and "cannot read .jsonl.zst" in why
    assert _facts(has_compress=False).capabilities() == ("session-writer",)
    assert _facts(resume_holds_writer_lock=False).coordination() == ()


def test_a_script_named_codex_in_an_extension_is_not_taken_for_a_binary(tmp_path):
    bundled = tmp_path / ".vscode" / "extensions" / "openai.chatgpt-1.0.0" / "bin" / "linux-x86_64" / "codex"
    bundled.parent.mkdir(parents=True)
    bundled.write_text("#!/bin/sh\necho codex-cli 0.1.0\n")
    bundled.chmod(0o755)
    assert str(bundled) not in {found.path for found in candidates(str(tmp_path))}


@pytest.mark.skipif(releases.missing_reason("0.146.0") is not None,
                    reason=f"codex 0.146.0 not installed: {releases.missing_reason('0.146.0')}")
def test_an_editor_extensions_bundled_lockless_release_is_found_and_judged(tmp_path):
    bundled = tmp_path / ".vscode-server" / "extensions" / "openai.chatgpt-0.4.0" / "bin" / "linux-x86_64" / "codex"
    bundled.parent.mkdir(parents=True)
    os.symlink(releases.find_binary("0.146.0"), bundled)
    found = [item for item in candidates(str(tmp_path)) if item.where == "extension"]
    assert [item.path for item in found] == [str(bundled)]
    facts = probe(found[0].path)
    assert facts.printed == "codex-cli 0.146.0"
    assert judge(facts)[0] == LOSES_WRITES
