"""The requirements of SPEC.md, parsed from its ``#### ID · LEVEL · capability[ · scheme]`` headings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from conformance.api.store import COORDINATION_SCHEMES

_HEADING = re.compile(r"^#### ([A-Z]+-\d{3}) · (MUST|SHOULD|MAY) · ([a-z]+)(?: · ([a-z][a-z-]*))?\s*$")
_CLOSES = re.compile(r"\bR(\d{1,2})\b")


@dataclass(frozen=True)
class Requirement:
    id: str
    level: str
    capability: str
    text: str
    closes: tuple[str, ...]  # race windows, e.g. ("R2", "R12")
    scheme: str = ""  # the coordination scheme it belongs to ("" = every store with the capability)


class SpecFormatError(ValueError):
    """SPEC.md has a ``####`` line that is not a requirement heading: fix the heading."""


def parse(text: str) -> dict[str, Requirement]:
    """Every requirement in document order; raise SpecFormatError on a malformed heading."""
    found: dict[str, Requirement] = {}
    current: tuple[str, str, str, str | None] | None = None
    body: list[str] = []

    def flush() -> None:
        if current is None:
            return
        text_ = "\n".join(body).strip()
        closes = ()
        for line in body:
            if line.startswith("Closes:"):
                closes = tuple(f"R{n}" for n in _CLOSES.findall(line))
        found[current[0]] = Requirement(current[0], current[1], current[2], text_, closes, current[3] or "")

    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("#### "):
            match = _HEADING.match(line)
            if not match:
                raise SpecFormatError(f"SPEC.md line {number}: not 'ID · LEVEL · capability[ · scheme]': {line!r}")
            flush()
            if match.group(4) and match.group(4) not in COORDINATION_SCHEMES:
                raise SpecFormatError(f"SPEC.md line {number}: unknown coordination scheme {match.group(4)!r}; "
                                      f"known: {', '.join(COORDINATION_SCHEMES)}")
            if match.group(1) in found:
                raise SpecFormatError(f"SPEC.md line {number}: {match.group(1)} appears twice")
            current, body = match.groups(), []
        elif line.startswith("#"):
            flush()
            current, body = None, []
        elif current is not None:
            body.append(line)
    flush()
    return found


@cache
def load() -> dict[str, Requirement]:
    """The requirements of the SPEC.md shipped with this package."""
    return parse(files("conformance").joinpath("SPEC.md").read_text(encoding="utf-8"))
