"""Lint: every requirement of SPEC.md has a suite test, and no suite test names an unknown id."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conformance.api import requirements

SUITE = Path(__file__).resolve().parents[2] / "conformance" / "suite"


def _req_ids_in(path: Path) -> set[str]:
    """Ids passed to ``pytest.mark.req(...)`` anywhere in a module (decorators and pytestmark)."""
    ids = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "req"
            and isinstance(node.func.value, ast.Attribute)
            and node.func.value.attr == "mark"
        ):
            for arg in node.args:
                if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                    pytest.fail(f"{path.name}: pytest.mark.req takes literal ids, got {ast.dump(arg)}")
                ids.add(arg.value)
    return ids


def suite_ids() -> dict[str, set[str]]:
    return {path.name: _req_ids_in(path) for path in sorted(SUITE.glob("test_*.py"))}


def test_spec_parses_with_stable_unique_ids():
    known = requirements.load()
    assert len(known) >= 60
    for rid, requirement in known.items():
        assert requirement.level in ("MUST", "SHOULD", "MAY"), rid
        assert requirement.capability in ("reader", "writer", "compressor", "lifecycle"), rid
        assert requirement.text, f"{rid} has no normative text"


def test_every_requirement_has_a_test():
    covered = set().union(*suite_ids().values())
    missing = sorted(set(requirements.load()) - covered)
    assert not missing, f"requirements without a conformance test: {missing}"


def test_no_test_names_an_unknown_requirement():
    known = set(requirements.load())
    unknown = {module: sorted(ids - known) for module, ids in suite_ids().items() if ids - known}
    assert not unknown, f"suite tests name ids that SPEC.md does not define: {unknown}"


def test_malformed_heading_is_a_clear_error():
    with pytest.raises(requirements.SpecFormatError, match="line 2"):
        requirements.parse("# Spec\n#### READ-1 MUST reader\n")


def test_every_race_window_is_closed_by_some_requirement():
    closed = {w for r in requirements.load().values() for w in r.closes}
    assert closed >= {f"R{n}" for n in range(1, 13)}, sorted({f"R{n}" for n in range(1, 13)} - closed)


def test_race_violations_name_real_requirements():
    from race_harness.requirements import REQUIREMENT

    unknown = {cls: rid for cls, rid in REQUIREMENT.items() if rid not in requirements.load()}
    assert not unknown, f"race_harness/requirements.py names ids SPEC.md does not define: {unknown}"
