"""Lint: an ``assert`` of a suite test that names a requirement id, in its message or in a comment on
its lines (or in the comment block right above it), sits in a test tagged with that id, so a failure is filed under the requirement it breaks
(issue #21, item 4).  Before: ``test_errors.py``'s ERR-001 test asserted ERR-012 behaviour, and a
store meeting ERR-001 was reported failing it.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

SUITE = Path(__file__).resolve().parents[2] / "conformance" / "suite"
ID = re.compile(r"\b[A-Z]{2,8}-\d{3}\b")


def _req_ids(decorators: list[ast.expr]) -> set[str]:
    """Ids of the ``pytest.mark.req(...)`` decorators among ``decorators``."""
    ids = set()
    for node in decorators:
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "req"):
            ids |= {arg.value for arg in node.args if isinstance(arg, ast.Constant)}
    return ids


def _comments(source: str) -> dict[int, str]:
    """Comment text by line number; a comment alone on its line also speaks for the line below it
    (a comment block above an assert is about that assert)."""
    found: dict[int, str] = {}
    lines = source.splitlines()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            found[token.start[0]] = found.get(token.start[0], "") + " " + token.string
    for number in sorted(found):
        if lines[number - 1].lstrip().startswith("#") and number + 1 <= len(lines):
            found[number + 1] = found.get(number + 1, "") + " " + found[number]
    return found


def _strings(node: ast.AST | None) -> str:
    """Every string literal inside ``node`` (an assert message, f-strings included)."""
    if node is None:
        return ""
    return " ".join(n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str))


def misfiled(path: Path) -> list[str]:
    """``file:line: test names ID, tagged ...`` for each assert naming an id its test is not tagged with."""
    source = path.read_text(encoding="utf-8")
    tree, comments = ast.parse(source), _comments(source)
    module_ids = {arg.value for node in tree.body if isinstance(node, ast.Assign)
                  and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)
                  for arg in ast.walk(node.value) if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                  and ID.fullmatch(arg.value)}
    found = []
    for test in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")):
        tagged = _req_ids(test.decorator_list) | module_ids
        for node in ast.walk(test):
            if not isinstance(node, ast.Assert):
                continue
            text = _strings(node.msg) + " " + " ".join(
                comments.get(line, "") for line in range(node.lineno, (node.end_lineno or node.lineno) + 1))
            for rid in sorted(set(ID.findall(text)) - tagged):
                found.append(f"{path.name}:{node.lineno}: {test.name} asserts {rid} behaviour but is tagged "
                             f"{', '.join(sorted(tagged)) or 'with no id'}: tag it, or move the assert to a "
                             f"test of {rid}")
    return found


def test_every_assert_naming_a_requirement_sits_in_a_test_tagged_with_it():
    found = [line for path in sorted(SUITE.glob("test_*.py")) for line in misfiled(path)]
    assert not found, "\n".join(found)


def test_the_lint_sees_a_misfiled_assert(tmp_path):
    """The lint itself: an ERR-012 assert in an ERR-001 test is named, a tagged one is not."""
    sample = tmp_path / "test_sample.py"
    sample.write_text(
        "import pytest\n\n"
        "@pytest.mark.req('ERR-001')\n"
        "def test_a(store):\n"
        "    assert store.search('x') == []  # ERR-012: not a partial answer\n"
        "    assert store.read('y'), 'ERR-001: keeps serving'\n\n"
        "@pytest.mark.req('ERR-012')\n"
        "def test_b(store):\n"
        "    assert store.search('x') == [], 'ERR-012: complete'\n")
    assert misfiled(sample) == ["test_sample.py:5: test_a asserts ERR-012 behaviour but is tagged ERR-001: tag it, "
                                "or move the assert to a test of ERR-012"]


def test_a_failure_message_names_the_call_and_its_arguments(tmp_path):
    """Before: "`<lambda>` succeeded; a StoreError was expected", which did not say which call."""
    import pytest

    from conformance.suite import kit
    from reference.store import ReferenceStore

    store = ReferenceStore()
    store.configure(str(tmp_path), 0)
    (tmp_path / "sessions").mkdir()
    present = "sessions/2025/01/03/rollout-2025-01-03T12-00-00-3f9c1a52-7b1e-4c2a-9d5e-8a6b4c3d2e1f.jsonl"
    store.create(present, [kit.line_text("x")])
    calls = [lambda: store.read("sessions/2025/01/03/not-a-rollout.txt"), lambda: store.read(present)]
    assert kit.store_error(calls[0]).kind == "invalid_name"
    with pytest.raises(AssertionError) as failed:
        kit.store_error(calls[1])
    assert str(failed.value) == f"store.read(present) with present={present!r} succeeded; a StoreError was expected"
