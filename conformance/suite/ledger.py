"""The expected-failure ledger: a TOML file of tests an implementation knows it fails.

Format (written by ``--update-ledger``, read by ``--ledger``)::

    [expected_failures]
    "conformance/suite/test_read.py::test_plain_wins" = "READ-001: reads the .zst first"

A listed test that passes, or that is skipped, fails the run: the ledger must shrink as bugs are
fixed and must never hide a test that stopped running.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field


class LedgerError(ValueError):
    """The ledger file cannot be used; the message says how to fix it."""


@dataclass(frozen=True)
class Ledger:
    expected_failures: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str) -> "Ledger":
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise LedgerError(f"ledger {path} does not exist; create it with --update-ledger") from None
        except tomllib.TOMLDecodeError as exc:
            raise LedgerError(f"ledger {path} is not valid TOML: {exc}") from None
        table = data.get("expected_failures", {})
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise LedgerError(f"ledger {path}: [expected_failures] must map test ids to reason strings")
        return cls(dict(table))

    def reason(self, nodeid: str) -> str | None:
        return self.expected_failures.get(nodeid)

    def dump(self, path: str, header: str) -> None:
        lines = [f"# {line}" for line in header.splitlines()]
        lines += ["", "[expected_failures]"]
        for nodeid in sorted(self.expected_failures):
            # JSON string escaping is valid TOML basic-string escaping for these characters.
            lines.append(f"{json.dumps(nodeid)} = {json.dumps(self.expected_failures[nodeid])}")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
