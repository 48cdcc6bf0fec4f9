"""What a tool's output says about the home, read against the ground truth: sessions, markers, numbers.

Both streams are read, each apart.  A session is recognised in every form a tool prints it: the full
UUID (with or without dashes), a prefix or suffix of at least 8 of its hex digits, its file stem or a
path holding it, or its first-message marker.  Every other line is reduced to a *shape* (the line with
ids and hex tokens masked and each number a slot), so the noise model (``noise.py``) can tell which
slots of which lines vary between identical runs.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from conformance.oracle.homegen import HomeManifest, RolloutTruth

STREAMS = ("stdout", "stderr")
MIN_HEX = 8  # the shortest id fragment recognised: 7 hex digits would collide in big homes
_HEX_TOKEN = re.compile(r"(?<![0-9a-z])(?>[0-9a-f]+(?:-[0-9a-f]+)*)(?![0-9a-z])")  # atomic: no partial tokens
_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # colours and cursor moves are not information
_LETTER, _DIGIT = re.compile("[a-f]"), re.compile("[0-9]")
_SPACES = re.compile(r"\s+")  # column padding follows the width of the numbers: not information


@dataclass(frozen=True)
class Line:
    """One non-blank output line: its shape (ids masked, numbers as ``#``), its numbers, its text."""

    stream: str
    shape: str
    numbers: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Facts:
    """What one run printed, per stream: occurrences of each session (any form) and marker, and its lines."""

    ids: dict  # stream -> Counter(rollout id -> occurrences of any id form)
    markers: dict  # stream -> Counter(rollout id -> occurrences of its marker)
    lines: tuple[Line, ...]
    ambiguous: tuple[str, ...]  # id fragments that match several sessions (counted for none)

    def seen(self, rollout: RolloutTruth) -> bool:
        return any(self.ids[s][rollout.id] or self.markers[s][rollout.id] for s in STREAMS)

    def count(self, kind: str, rid: str) -> int:
        """Occurrences of session ``rid``'s id forms (``kind="ids"``) or marker, over both streams."""
        return sum(getattr(self, kind)[s][rid] for s in STREAMS)

    def streams_seeing(self, rids) -> tuple[str, ...]:
        return tuple(s for s in STREAMS if any(self.ids[s][r] or self.markers[s][r] for r in rids))

    @property
    def sessions_seen(self) -> int:
        return len({r for s in STREAMS for r in (set(self.ids[s]) | set(self.markers[s]))})

    def seen_in(self, stream: str) -> int:
        return len(set(self.ids[stream]) | set(self.markers[stream]))

    def first_lines(self, n: int = 5) -> tuple[str, ...]:
        return tuple(f"{line.stream}: {line.text[:120]}" for line in self.lines[:n])


class IdForms:
    """Every printable form of the home's session ids: fragment (no dashes, lowercase) -> ids."""

    def __init__(self, manifest: HomeManifest) -> None:
        self.full: dict[str, str] = {}
        self.fragments: dict[str, set[str]] = {}
        for rollout in manifest.rollouts:
            digits = rollout.id.replace("-", "").lower()
            self.full[digits] = rollout.id
            for n in range(MIN_HEX, len(digits) + 1):
                self.fragments.setdefault(digits[:n], set()).add(rollout.id)
                self.fragments.setdefault(digits[-n:], set()).add(rollout.id)

    def match(self, token: str) -> set[str]:
        """The sessions a hex token (dashes allowed) names: whole, as a prefix or suffix, or ending a stem."""
        digits = token.replace("-", "")
        if len(digits) > 32:  # a stem or path fragment: the id sits at one end
            return {self.full[d] for d in (digits[-32:], digits[:32]) if d in self.full}
        return set(self.fragments.get(digits, ())) if len(digits) >= MIN_HEX else set()


_FORMS: list = [None, None]  # (manifest, its forms): one home per check, built once


def _forms(manifest: HomeManifest) -> IdForms:
    if _FORMS[0] is not manifest:
        _FORMS[:] = [manifest, IdForms(manifest)]
    return _FORMS[1]


def facts_of(stdout: str, stderr: str, manifest: HomeManifest) -> Facts:
    """Read a run's two streams against the manifest."""
    forms = _forms(manifest)
    ids: dict = {s: Counter() for s in STREAMS}
    markers: dict = {s: Counter() for s in STREAMS}
    lines: list[Line] = []
    ambiguous: list[str] = []
    for stream, text in zip(STREAMS, (stdout, stderr)):
        text = _ANSI.sub("", text)
        lowered_text = text.lower()
        for rollout in manifest.rollouts:
            if rollout.marker and (n := lowered_text.count(rollout.marker)):
                markers[stream][rollout.id] = n
        for raw in text.splitlines():
            if not raw.strip():
                continue
            lowered = raw.lower()
            masked = []
            last = 0
            for m in _HEX_TOKEN.finditer(lowered):
                named = forms.match(m.group(0))
                if len(named) == 1:
                    ids[stream][next(iter(named))] += 1
                    mask = "<id>"
                elif named:
                    ambiguous.append(m.group(0))
                    mask = "<id?>"
                elif len(m.group(0).replace("-", "")) >= 6 and _LETTER.search(m.group(0)) and \
                        _DIGIT.search(m.group(0)):
                    mask = "<hex>"  # the tool's own identifiers (run ids, short hashes): names, not quantities
                else:
                    continue
                masked.append(raw[last:m.start()] + mask)
                last = m.end()
            bare = "".join(masked) + raw[last:]
            numbers = tuple(m.group(0).replace(",", "") for m in _NUMBER.finditer(bare))
            shape = _SPACES.sub(" ", _NUMBER.sub("#", bare)).strip()
            lines.append(Line(stream, shape, numbers, raw.strip()))
    return Facts(ids, markers, tuple(lines), tuple(dict.fromkeys(ambiguous)))


@dataclass(frozen=True)
class Change:
    """How the output over a transformed home differs from the output over the plain home."""

    disappeared: tuple[str, ...]  # ids seen before, neither id nor marker seen after
    lost_content: tuple[str, ...]  # still named, but the marker seen before is gone
    duplicated: tuple[str, ...]  # named or quoted more often than before
    numbers_lost: tuple[str, ...]  # "stream:number", stable numbers printed before and not after
    numbers_gained: tuple[str, ...]
    largest: tuple[str, str] = ("-", "-")  # the largest stable number printed, before and after
    lines: tuple[str, ...] = ()  # a few lines whose stable numbers changed, before then after
    session_streams: tuple[str, ...] = ()  # where the lost sessions were seen before
    number_streams: tuple[str, ...] = ()  # where the numbers changed

    @property
    def any(self) -> bool:
        return bool(self.disappeared or self.lost_content or self.duplicated or self.numbers_lost
                    or self.numbers_gained)


def compare(before: Facts, after: Facts, manifest: HomeManifest, noise) -> Change:
    """The sessions and numbers that changed, leaving out what ``noise`` says varies between identical runs."""
    disappeared, lost, duplicated = [], [], []
    for rollout in manifest.rollouts:
        rid = rollout.id
        if rid in noise.ids or not before.seen(rollout):
            continue
        if not after.seen(rollout):
            disappeared.append(rid)
        elif before.count("markers", rid) and not after.count("markers", rid):
            lost.append(rid)
        elif after.count("ids", rid) > before.count("ids", rid) or \
                after.count("markers", rid) > before.count("markers", rid):
            duplicated.append(rid)
    b, a = noise.stable(before), noise.stable(after)
    numbers_lost = sorted(b - a, key=_magnitude, reverse=True)
    numbers_gained = sorted(a - b, key=_magnitude, reverse=True)
    largest = tuple(max(nums, key=_magnitude, default="-") for nums in (b, a))
    changed = noise.changed_lines(before, after)
    return Change(tuple(disappeared), tuple(lost), tuple(duplicated), tuple(numbers_lost), tuple(numbers_gained),
                  largest, changed, before.streams_seeing(disappeared + lost + duplicated),
                  tuple(s for s in STREAMS if any(n.startswith(s + ":") for n in numbers_lost + numbers_gained)))


def _magnitude(number: str) -> float:
    try:
        return float(number.rpartition(":")[2])
    except ValueError:
        return 0.0
