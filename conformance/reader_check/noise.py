"""The noise model: what varies between identical runs of a command, learnt from repeated baselines.

A number is judged by its *slot*: (stream, line shape, position).  A slot whose values differ between
two runs over the same home (a duration, a clock time, a counter of elapsed work) is noise; a line
shape whose count differs is noise as a whole; a session named a different number of times is noise.
Only noise is ignored, everything else is compared, and the report says what was ignored.  The
check adds a control run after the last case (``check.py``), so what drifts slowly (a clock's
minutes, today's date) is learnt from runs that span the whole check.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable

from conformance.reader_check.facts import STREAMS, Facts

#: Baseline runs: at least MIN_RUNS, then more until SETTLE runs in a row teach nothing new, at most the cap.
MIN_RUNS = 3
SETTLE = 2
DEFAULT_MAX_RUNS = 8


@dataclass(frozen=True)
class Noise:
    """What varied between ``runs`` identical runs: sessions, line shapes and number slots."""

    ids: frozenset = frozenset()
    shapes: frozenset = frozenset()  # (stream, shape)
    slots: frozenset = frozenset()  # (stream, shape, position)
    runs: int = 1

    def __or__(self, other: "Noise") -> "Noise":
        return Noise(self.ids | other.ids, self.shapes | other.shapes, self.slots | other.slots,
                     max(self.runs, other.runs))

    def plus(self, other: "Noise") -> "Noise":
        """This noise and the difference one more identical run showed (``other``)."""
        return Noise(self.ids | other.ids, self.shapes | other.shapes, self.slots | other.slots, self.runs + 1)

    def size(self) -> int:
        return len(self.ids) + len(self.shapes) + len(self.slots)

    def stable(self, facts: Facts) -> Counter:
        """The numbers ``facts`` prints outside noisy slots, as ``stream:number``."""
        return Counter(f"{line.stream}:{n}" for line in facts.lines if (line.stream, line.shape) not in self.shapes
                       for i, n in enumerate(line.numbers) if (line.stream, line.shape, i) not in self.slots)

    def _key(self, line) -> tuple:
        return (line.stream, line.shape, tuple("~" if (line.stream, line.shape, i) in self.slots else n
                                               for i, n in enumerate(line.numbers)))

    def changed_lines(self, before: Facts, after: Facts, n: int = 2) -> tuple[str, ...]:
        """A few numbered lines of ``before`` with no stable equal in ``after``, then the reverse."""
        def numbered(facts: Facts) -> list:
            return [line for line in facts.lines if line.numbers and (line.stream, line.shape) not in self.shapes]
        b, a = numbered(before), numbered(after)
        kb, ka = Counter(map(self._key, b)), Counter(map(self._key, a))
        gone = [line for line in b if kb[self._key(line)] > ka[self._key(line)]][:n]
        new = [line for line in a if ka[self._key(line)] > kb[self._key(line)]][:n]
        return tuple(f"{line.stream} before: {line.text[:140]}" for line in gone) + \
            tuple(f"{line.stream} after: {line.text[:140]}" for line in new)

    def describe(self) -> str:
        """What is ignored, in words ("" when nothing varied)."""
        parts = []
        slots: dict[tuple, int] = {}
        for stream, shape, _ in sorted(self.slots):
            slots[(stream, shape)] = slots.get((stream, shape), 0) + 1
        for (stream, shape), count in list(slots.items())[:3]:
            parts.append(f"{count} number(s) in `{shape[:80]}` ({stream})")
        if len(slots) > 3:
            parts.append(f"numbers in {len(slots) - 3} more line shape(s)")
        if self.shapes:
            parts.append(f"{len(self.shapes)} line shape(s) printed a varying number of times")
        if self.ids:
            parts.append(f"{len(self.ids)} session(s) named a varying number of times")
        return "; ".join(parts)


def difference(a: Facts, b: Facts) -> Noise:
    """What differs between two runs over the same home."""
    ids = {rid for s in STREAMS for kind in (a.ids, a.markers, b.ids, b.markers) for rid in kind[s]
           if a.ids[s][rid] != b.ids[s][rid] or a.markers[s][rid] != b.markers[s][rid]}
    count_a = Counter((line.stream, line.shape) for line in a.lines)
    count_b = Counter((line.stream, line.shape) for line in b.lines)
    shapes = {k for k in count_a.keys() | count_b.keys() if count_a[k] != count_b[k]}
    values_a, values_b = _slot_values(a), _slot_values(b)
    slots = {k for k in values_a.keys() | values_b.keys()
             if k[:2] not in shapes and values_a.get(k) != values_b.get(k)}
    return Noise(frozenset(ids), frozenset(shapes), frozenset(slots), 2)


def _slot_values(facts: Facts) -> dict[tuple, Counter]:
    # The multiset of values per slot: the order lines come in is not information.
    out: dict[tuple, Counter] = {}
    for line in facts.lines:
        for i, n in enumerate(line.numbers):
            out.setdefault((line.stream, line.shape, i), Counter())[n] += 1
    return out


def learn(run_once: Callable[[], Facts], max_runs: int = DEFAULT_MAX_RUNS, min_runs: int = MIN_RUNS,
          settle: int = SETTLE, stop: Callable[[], bool] = lambda: False) -> tuple[list[Facts], Noise]:
    """Run at least ``min_runs`` times, then until ``settle`` runs in a row add no noise (at most ``max_runs``).

    ``stop`` ends the learning early (a run that hung or crashed: repeating it teaches nothing).
    """
    seen = [run_once()]
    noise = Noise()
    quiet = 0
    while len(seen) < max(min_runs, 1) or (quiet < settle and len(seen) < max_runs):
        if stop():
            break
        seen.append(run_once())
        grown = noise | difference(seen[0], seen[-1])
        quiet = quiet + 1 if grown.size() == noise.size() else 0
        noise = grown
    return seen, Noise(noise.ids, noise.shapes, noise.slots, len(seen))
