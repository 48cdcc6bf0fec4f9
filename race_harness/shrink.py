"""Shrink a violating random campaign, and save what it shrank to as a pytest regression file.

Contract: :func:`shrink` re-runs a campaign that found a violation with smaller and smaller configs
(fewer roles, one rollout, smaller lines, an operation budget halved again and again), keeping each
reduction under which the same violation class still shows up, within ``max_runs`` re-runs of a few
seconds each (same seed; window widening on).  A race is found by chance: a reduction whose single
re-run happens to miss it is rejected, so the result is small, not minimal.  :func:`attach` puts the
result in the verdict (a note and ``stats["shrunk"]``) and in the bundle (``shrunk.json``);
:func:`write_regression` writes a small pytest file that re-runs the shrunk config against a store.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from race_harness.bundle import rerun_command
from race_harness.campaign import CampaignConfig, run_campaign
from race_harness.roles import Roles
from race_harness.verdict import Verdict

MAX_RUNS = 12
#: Which class to keep when a campaign found several: the first of these present, else the first by name.
CLASS_PRIORITY = ("lost_line", "torn_frame", "raw_bytes_in_zst", "partial_line", "duplicate_line", "order",
                  "resurrected", "two_representations", "active_and_archived", "garbled_line", "read_not_prefix")
MIN_OPS = 8
_SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Shrunk:
    """What shrinking kept: the smallest config that still showed ``cls``, and how it got there."""

    cls: str
    roles: Roles
    original: CampaignConfig
    config: CampaignConfig
    runs: int  # re-runs spent
    steps: tuple[str, ...]  # reductions kept, in order
    tried: tuple[str, ...]  # every re-run: reduction and what it found
    time_to_detection_s: float | None = None  # of the last re-run that showed cls

    def describe(self) -> str:
        c = self.config
        return (f"shrunk ({self.cls} kept, {self.runs} re-run(s)): writers={c.writers} compressors={c.compressors} "
                f"readers={c.readers} listers={c.listers} archivers={c.archivers} agers={c.agers} rollouts={c.rollouts} "
                f"ops={c.ops or 'unbounded'} seconds={c.seconds:g} line_sizes={','.join(map(str, c.line_sizes))}"
                f"{' kills' if c.kills else ''}")

    def as_dict(self) -> dict:
        meta = {"kind": "campaign", **self.roles.meta(), "seed": self.config.seed, "params": asdict(self.config)}
        return {"class": self.cls, **self.roles.meta(), "original": asdict(self.original),
                "config": asdict(self.config), "runs": self.runs, "steps": list(self.steps),
                "tried": list(self.tried), "time_to_detection_s": self.time_to_detection_s,
                "size": {"original": size(self.original), "shrunk": size(self.config)},
                "command": rerun_command(meta)}


def target_class(classes: tuple[str, ...] | list[str]) -> str:
    """The one class shrinking keeps (lost_line first: the others often follow from it)."""
    return next((c for c in CLASS_PRIORITY if c in classes), sorted(classes)[0] if classes else "")


def size(config: CampaignConfig) -> dict:
    """The dimensions shrinking reduces (ops 0 means unbounded, the largest)."""
    return {"processes": config.writers + config.compressors + config.readers + config.listers + config.archivers
            + config.agers,
            "ops": config.ops, "rollouts": config.rollouts, "line_bytes": max(config.line_sizes + (config.big_line,)),
            "kills": config.kills}


def no_bigger(small: CampaignConfig, big: CampaignConfig) -> bool:
    """``small`` is at most ``big`` in every dimension of :func:`size`."""
    a, b = size(small), size(big)
    ops_ok = b["ops"] == 0 or (a["ops"] != 0 and a["ops"] <= b["ops"])
    return (ops_ok and a["processes"] <= b["processes"] and a["rollouts"] <= b["rollouts"]
            and a["line_bytes"] <= b["line_bytes"] and (b["kills"] or not a["kills"]))


def _ops_done(verdict: Verdict) -> int:
    return sum(sum(row.values()) for row in (verdict.stats.get("operations") or {}).values())


def _structural_steps(config: CampaignConfig) -> list[tuple[str, Callable[[CampaignConfig], CampaignConfig]]]:
    smallest = min(config.line_sizes)
    return [
        ("no kills", lambda c: replace(c, kills=False)),
        ("no readers, listers, archivers", lambda c: replace(c, readers=0, listers=0, archivers=0)),
        ("one writer", lambda c: replace(c, writers=min(c.writers, 1))),
        ("one compressor", lambda c: replace(c, compressors=min(c.compressors, 1))),
        ("one rollout", lambda c: replace(c, rollouts=1)),
        (f"{smallest}-byte lines only", lambda c: replace(c, line_sizes=(smallest,), big_line=0)),
        ("no readers", lambda c: replace(c, readers=0)),
        ("no listers", lambda c: replace(c, listers=0)),
        ("no archivers", lambda c: replace(c, archivers=0)),
        ("no agers", lambda c: replace(c, agers=0)),
    ]


def shrink(selection: "str | Roles", config: CampaignConfig, verdict: Verdict, root: str | None = None,
           max_runs: int = MAX_RUNS, run_seconds: float | None = None,
           progress: Callable[[str], None] | None = None) -> Shrunk:
    """Reduce ``config`` (whose campaign gave ``verdict``) while its violation class stays.

    Re-runs are bounded by ``max_runs`` and each by ``run_seconds`` (default: one and a half times
    the original detection time plus a second, between 1.5 and 5 s, never more than the original).
    """
    cls = target_class(verdict.classes)
    roles = Roles.of(selection)
    own_root = root is None
    root = root or tempfile.mkdtemp(prefix="race-shrink-")
    ttd = verdict.stats.get("time_to_detection_s")
    if run_seconds is None:
        run_seconds = round(min(5.0, max(1.5, 1.5 * ttd + 1.0)), 1) if ttd is not None else 3.0
    seconds = min(config.seconds, run_seconds) if config.seconds else 0.0
    current = replace(config, seconds=seconds) if config.seconds else config
    steps: list[str] = []
    tried: list[str] = []
    runs = 0
    last_ops = _ops_done(verdict)
    last_ttd = ttd
    seconds_checked = current == config  # a shorter bound alone is kept only if a re-run confirms it

    def attempt(label: str, candidate: CampaignConfig) -> bool:
        nonlocal runs, last_ops, last_ttd
        runs += 1
        found = run_campaign(roles, candidate, os.path.join(root, f"shrink-{runs}"))
        kept = cls in found.classes
        tried.append(f"{label}: {', '.join(found.classes) or found.status}" + (" (kept)" if kept else ""))
        if progress:
            progress(f"shrink {runs}/{max_runs}: {tried[-1]}")
        if kept:
            last_ops, last_ttd = _ops_done(found), found.stats.get("time_to_detection_s")
        return kept

    try:
        for label, step in _structural_steps(config):
            if runs >= max_runs:
                break
            candidate = step(current)
            if candidate == current:
                continue
            if attempt(label, candidate):
                current, seconds_checked = candidate, True
                steps.append(label)
        # then an operation budget: a quarter of what the last failing run did, halved while it still
        # fails; the first miss is retried once halfway back towards the last budget that failed
        if last_ops and runs < max_runs:
            ops = max(MIN_OPS, (current.ops // 2) if current.ops else last_ops // 4)
            retried = False
            while runs < max_runs and ops >= MIN_OPS and (not current.ops or ops < current.ops):
                if attempt(f"ops {ops}", replace(current, ops=ops)):
                    current, seconds_checked = replace(current, ops=ops), True
                    steps.append(f"ops {ops}")
                    ops //= 2
                elif not retried:
                    retried = True
                    ops = (ops + (current.ops or last_ops)) // 2
                else:
                    break
        if not seconds_checked:
            current = config  # no re-run confirmed anything: report the original
    finally:
        if own_root:
            import shutil

            shutil.rmtree(root, ignore_errors=True)
    return Shrunk(cls, roles, config, current, runs, tuple(steps), tuple(tried), last_ttd)


def attach(verdict: Verdict, shrunk: Shrunk) -> Verdict:
    """The verdict with the shrunk config as a note and in stats; ``shrunk.json`` in its bundle."""
    if verdict.bundle and os.path.isdir(verdict.bundle):
        with open(os.path.join(verdict.bundle, "shrunk.json"), "w") as handle:
            json.dump(shrunk.as_dict(), handle, indent=1)
    return replace(verdict, notes=verdict.notes + (shrunk.describe(),), stats=dict(verdict.stats, shrunk=shrunk.as_dict()))


_REGRESSION = '''"""Regression test written by `race --save-regression`: a shrunk random campaign that found
{cls} against {described}.

Store: the environment variable RACE_STORE (one store in every role), default the stores that
failed: {described}.
Expectation:
  * against the store that failed, the violation class {cls} must be PRESENT: the harness still
    catches this bug (a race is found by chance: up to {attempts} campaigns, seeds {seed}..{last}, are tried);
  * against any other store (a fixed one, e.g. RACE_STORE=reference) it must be ABSENT from every
    one of {attempts} campaigns.
RACE_EXPECT=present or RACE_EXPECT=absent overrides that (e.g. RACE_EXPECT=absent once the failing
store was fixed under the same selection).

Run it with:  RACE_STORE=<selection> python -m pytest {name}
Shrunk from:  {original}
Shrinking:    {steps}
"""

import os
import sys

import pytest

try:
    import race_harness  # noqa: F401
except ImportError:  # the harness runs from its source tree; it need not be installed
    sys.path.insert(0, {source!r})

from race_harness.campaign import CampaignConfig, run_campaign
from race_harness.roles import Roles

FAILED_ROLES = {roles!r}
CLASS = {cls!r}
ATTEMPTS = {attempts}
CONFIG = {config}


def test_shrunk_campaign_{slug}(tmp_path):
    failed = Roles(**FAILED_ROLES)
    store = Roles.of(os.environ["RACE_STORE"]) if os.environ.get("RACE_STORE") else failed
    expect = os.environ.get("RACE_EXPECT") or ("present" if store == failed else "absent")
    assert expect in ("present", "absent"), f"RACE_EXPECT must be present or absent, not {{expect!r}}"
    found = []
    for attempt in range(ATTEMPTS):
        params = dict(CONFIG, line_sizes=tuple(CONFIG["line_sizes"]), seed=CONFIG["seed"] + attempt)
        verdict = run_campaign(store, CampaignConfig(**params), str(tmp_path / f"attempt-{{attempt}}"))
        assert verdict.status != "inconclusive", verdict.describe()
        found.append(verdict.classes)
        if expect == "present" and CLASS in verdict.classes:
            return
        if expect == "absent":
            assert CLASS not in verdict.classes, verdict.describe()
    if expect == "present":
        pytest.fail(f"{{CLASS}} not found against {{store.describe()}} in {{ATTEMPTS}} campaign(s): {{found}}")
'''


def write_regression(path: str, selection: "str | Roles", config: CampaignConfig, cls: str, attempts: int = 3,
                     original: CampaignConfig | None = None, steps: tuple[str, ...] = ()) -> str:
    """Write the pytest file (see its docstring for which store and which expectation); return path."""
    slug = "".join(ch if ch.isalnum() else "_" for ch in cls) or "violation"
    roles = Roles.of(selection)
    params = asdict(config)
    params["line_sizes"] = list(params["line_sizes"])
    text = _REGRESSION.format(
        cls=cls, roles=roles.as_dict(), described=roles.describe(), attempts=attempts, seed=config.seed,
        last=config.seed + attempts - 1,
        name=os.path.basename(path), original=json.dumps(asdict(original or config), sort_keys=True),
        steps=", ".join(steps) or "(none)", source=_SOURCE_ROOT, config=_literal(params), slug=slug)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    return path


def _literal(params: dict) -> str:
    """A readable dict literal (one field a line)."""
    rows = [f"    {key!r}: {value!r}," for key, value in params.items()]
    return "{\n" + "\n".join(rows) + "\n}"


def regression_command(path: str, store: str | None = None) -> str:
    prefix = f"RACE_STORE={shlex.quote(store)} " if store else ""
    return f"{prefix}{shlex.quote(sys.executable)} -m pytest -q {shlex.quote(path)}"
