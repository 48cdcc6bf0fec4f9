"""Issue 14, item 8: a closed pipe and a non-UTF-8 argument end quietly, never in a traceback."""

from __future__ import annotations

import subprocess
import sys

from conformance.oracle import homegen


def test_search_into_head_ends_without_a_traceback(tmp_path):
    """Before: `search ... | head -1` printed a BrokenPipeError traceback."""
    home = tmp_path / "home"
    homegen.demo_home(home, count=120, seed=1)
    search = subprocess.Popen([sys.executable, "-m", "conformance.cli", "search", "--home", str(home), "e"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = search.stdout.readline()
    search.stdout.close()  # what `head -1` does after its line
    err = search.stderr.read().decode()
    search.wait(timeout=300)
    assert first.strip(), "search printed nothing"
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert search.returncode in (0, 4), search.returncode


def test_non_utf8_search_text_is_a_usage_error(tmp_path):
    """Before: a UnicodeEncodeError traceback."""
    home = tmp_path / "home"
    homegen.demo_home(home, count=5, seed=2)
    done = subprocess.run([sys.executable.encode(), b"-m", b"conformance.cli", b"search", b"--home",
                           str(home).encode(), b"\xff\xfe"], capture_output=True, timeout=120)
    err = done.stderr.decode(errors="replace")
    assert done.returncode == 2 and "Traceback" not in err and "not valid UTF-8" in err, err
