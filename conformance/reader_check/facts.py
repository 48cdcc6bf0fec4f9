"""What a tool's output says about the home, in terms of the ground truth: ids, markers, numbers."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from conformance.oracle.homegen import HomeManifest, RolloutTruth
from conformance.api.store import UUID_PATTERN

_UUID = re.compile(UUID_PATTERN)
_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # colours and cursor moves are not information


@dataclass(frozen=True)
class Facts:
    """Counts, in one output, of each session's id (or its 8-hex prefix) and marker, and of each number."""

    ids: Counter  # rollout id -> occurrences of its first 8 hex digits
    markers: Counter  # rollout id -> occurrences of its marker
    numbers: Counter  # number as printed, thousands separators dropped -> occurrences

    def seen(self, rollout: RolloutTruth) -> bool:
        return bool(self.ids[rollout.id] or self.markers[rollout.id])

    @property
    def sessions_seen(self) -> int:
        return len(set(self.ids) | set(self.markers))


def facts_of(text: str, manifest: HomeManifest) -> Facts:
    """Read ``text`` (a tool's standard output) against the manifest."""
    text = _ANSI.sub("", text)
    lowered = text.lower()
    ids, markers = Counter(), Counter()
    for rollout in manifest.rollouts:
        if (n := lowered.count(rollout.id[:8])):
            ids[rollout.id] = n
        if rollout.marker and (n := lowered.count(rollout.marker)):
            markers[rollout.id] = n
    # Numbers inside ids and markers say nothing more; dates and paths stay (they are stable).
    bare = _UUID.sub(" ", text)
    numbers = Counter(m.group(0).replace(",", "") for m in _NUMBER.finditer(bare))
    return Facts(ids, markers, numbers)


def unstable(a: Facts, b: Facts) -> tuple[set[str], set[str]]:
    """What differs between two runs over the same home: (rollout ids, numbers) never to be judged."""
    ids = {k for k in set(a.ids) | set(b.ids) if a.ids[k] != b.ids[k]}
    ids |= {k for k in set(a.markers) | set(b.markers) if a.markers[k] != b.markers[k]}
    numbers = {k for k in set(a.numbers) | set(b.numbers) if a.numbers[k] != b.numbers[k]}
    return ids, numbers


@dataclass(frozen=True)
class Change:
    """How the output over a transformed home differs from the output over the plain home."""

    disappeared: tuple[str, ...]  # ids seen before, neither id nor marker seen after
    lost_content: tuple[str, ...]  # still named, but the marker seen before is gone
    duplicated: tuple[str, ...]  # named or quoted more often than before
    numbers_lost: tuple[str, ...]
    numbers_gained: tuple[str, ...]
    largest: tuple[str, str] = ("-", "-")  # the largest stable number printed, before and after

    @property
    def any(self) -> bool:
        return bool(self.disappeared or self.lost_content or self.duplicated or self.numbers_lost
                    or self.numbers_gained)


def compare(before: Facts, after: Facts, manifest: HomeManifest, noisy_ids: set[str],
            noisy_numbers: set[str]) -> Change:
    """The sessions and numbers that changed, leaving out what already varies between two plain runs."""
    disappeared, lost, duplicated = [], [], []
    for rollout in manifest.rollouts:
        rid = rollout.id
        if rid in noisy_ids or not before.seen(rollout):
            continue
        if not after.seen(rollout):
            disappeared.append(rid)
        elif before.markers[rid] and not after.markers[rid]:
            lost.append(rid)
        elif after.ids[rid] > before.ids[rid] or after.markers[rid] > before.markers[rid]:
            duplicated.append(rid)
    numbers_lost = sorted((before.numbers - after.numbers).keys() - noisy_numbers, key=_magnitude, reverse=True)
    numbers_gained = sorted((after.numbers - before.numbers).keys() - noisy_numbers, key=_magnitude, reverse=True)
    largest = tuple(max(set(f.numbers) - noisy_numbers, key=_magnitude, default="-") for f in (before, after))
    return Change(tuple(disappeared), tuple(lost), tuple(duplicated), tuple(numbers_lost), tuple(numbers_gained),
                  largest)


def _magnitude(number: str) -> float:
    try:
        return float(number)
    except ValueError:
        return 0.0
