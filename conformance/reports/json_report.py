"""The suite's JSON report: its envelope (format version, tool, store handshake, times) and its schema.

Contract: :func:`build_report` wraps the verdict by requirement (``RequirementSummary.as_json``) in
the envelope described by ``conformance/protocol/schemas/report.schema.json`` (:data:`FORMAT_VERSION`);
:func:`validate_report` raises ``jsonschema.ValidationError`` for a report that does not follow it
(or, named ``race-report``, the schema of ``race --report``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from functools import cache
from importlib import resources

FORMAT = "rollout-conformance/suite-report"
#: Bumped when a field changes meaning or disappears; new optional fields keep the version.
FORMAT_VERSION = 1


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _handshake(hello: Callable) -> dict:
    """Who was tested, as the store's own handshake says, or why it could not be asked."""
    try:
        answer = hello()
    except Exception as exc:  # noqa: BLE001 - a store that cannot say hello still gets its report
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
    return {"name": answer.name, "version": answer.version, "protocol": answer.protocol,
            "capabilities": sorted(answer.capabilities), "coordination": sorted(answer.coordination)}


def build_report(verdict: dict, hello: Callable, *, started: str, profile: str, interrupted: bool,
                 seed: int | None = None) -> dict:
    """The whole report for one suite run; ``hello`` is called once to name the store."""
    from conformance import __version__

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": "suite",
        "tool": {"name": "rollout-conformance", "version": __version__},
        "store": verdict["store"],
        "handshake": _handshake(hello),
        "profile": profile,
        "seed": seed,
        "started": started,
        "finished": now(),
        "interrupted": interrupted,
        # an interrupted run's verdicts are partial: no status of a finished run may stand for it
        "status": "interrupted" if interrupted else verdict["status"],
        "totals": verdict["totals"],
        "root_causes": verdict.get("root_causes", []),
        "requirements": verdict["requirements"],
    }


@cache
def schema(name: str = "report") -> dict:
    """A JSON Schema shipped in the package: the suite's ``report`` (default) or ``race-report``."""
    return json.loads((resources.files("conformance") / "protocol" / "schemas" / f"{name}.schema.json").read_text("utf-8"))


def validate_report(report: dict, name: str = "report") -> None:
    """Raise jsonschema.ValidationError when ``report`` does not follow :func:`schema` ``name``."""
    import jsonschema

    jsonschema.Draft202012Validator(schema(name)).validate(report)
