"""The before/after run: one plain home, the tool over it until its noise is known, then over each hard case,
then once more over the plain home (a control run: what drifted during the check is noise too)."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from conformance.oracle import disk as oracle
from conformance.oracle.homegen import HomeManifest, RolloutTruth, realistic_home, seed_now_ns
from conformance.reader_check.cases import CASES, Case
from conformance.reader_check.facts import Facts, compare, facts_of
from conformance.reader_check.findings import Finding, Observation, group
from conformance.reader_check.interpret import Reading, read_baseline
from conformance.reader_check.noise import DEFAULT_MAX_RUNS, Noise, difference, learn
from conformance.reader_check.runner import Run, Template, run_tool, tool_env

#: Settings every run gets unless ``--env`` says otherwise: the generated home is the user's
#: ``~/.codex``, and caches and configs live beside it, so nothing leaks between runs or from yours.
DEFAULT_ENV = (("HOME", "{user_home}"), ("CODEX_HOME", "{home}"), ("XDG_CACHE_HOME", "{user_home}/.cache"),
               ("XDG_CONFIG_HOME", "{user_home}/.config"), ("XDG_DATA_HOME", "{user_home}/.local/share"))
LOOKUP_MAX_RUNS = 4  # per looked-up session: its noise adds to the command's


@dataclass(frozen=True)
class Settings:
    """What to run and on what home."""

    commands: tuple[Template, ...]
    env: tuple[tuple[str, str], ...] = ()
    count: int = 120
    seed: int = 0
    timeout: float = 60.0
    large_bytes: int = 8 << 20
    lookups_per_case: int = 2
    cases: tuple[str, ...] = tuple(c.name for c in CASES)
    work: Path | None = None  # kept when given
    active_only: bool = False  # the tool declares it reads sessions/ only: archived rollouts are not judged
    max_baseline: int = DEFAULT_MAX_RUNS  # cap of the adaptive baseline runs per listing command


@dataclass(frozen=True)
class Outcome:
    """The verdict and everything it rests on."""

    verdict: str  # passed | failed | inconclusive
    findings: tuple[Finding, ...]
    inconclusive: tuple[str, ...]  # why a part could not be judged
    observations: tuple[Observation, ...]
    baseline: dict  # command -> what its plain runs showed, how it is judged, what noise is ignored
    manifest: HomeManifest
    touched: dict  # case -> rollouts it changed

    @property
    def exit_code(self) -> int:
        return {"passed": 0, "failed": 1, "inconclusive": 3}[self.verdict]


class _Sandbox:
    """A pristine home and the one place every run happens, so paths in outputs never differ."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.pristine = work / "pristine" / ".codex"
        self.user_home = work / "run"
        self.home = self.user_home / ".codex"

    def empty(self) -> None:
        """A home with no rollout: what a tool prints about nothing."""
        shutil.rmtree(self.user_home, ignore_errors=True)
        (self.home / "sessions").mkdir(parents=True)
        (self.home / "archived_sessions").mkdir()

    def fresh(self, case: Case | None, manifest: HomeManifest) -> tuple[RolloutTruth, ...]:
        shutil.rmtree(self.user_home, ignore_errors=True)
        self.user_home.mkdir(parents=True)
        shutil.copytree(self.pristine, self.home)  # copy2: modes and mtimes kept
        return case.transform(self.home, manifest) if case else ()

    def keep(self, case: str) -> None:
        """Save the home a case ran on (with --keep): the paths findings cite stay there to look at."""
        target = self.work / "cases" / case
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(self.user_home, target, symlinks=True)

    def values(self, rollout: RolloutTruth | None = None) -> dict[str, str]:
        out = {"home": str(self.home), "sessions": str(self.home / "sessions"), "user_home": str(self.user_home),
               "archived_sessions": str(self.home / "archived_sessions"), "id": "", "path": "", "logical": "",
               "marker": "", "stem": ""}
        if rollout is not None:
            physical = oracle.representations(self.home, rollout.logical)
            out.update(id=rollout.id, marker=rollout.marker, logical=str(self.home / rollout.logical),
                       path=str(self.home / (physical[0] if physical else rollout.logical)),
                       stem=Path(rollout.logical).name.removesuffix(".jsonl"))
        return out


def run_check(settings: Settings, log: Callable[[str], None] = lambda _: None) -> Outcome:
    """Build the home, run every command before and in every case, and judge."""
    work = settings.work or Path(tempfile.mkdtemp(prefix="reader-check-"))
    try:
        return _Check(settings, work, log).run()
    finally:
        if settings.work is None:
            shutil.rmtree(work, ignore_errors=True)


@dataclass(frozen=True)
class _Base:
    """One command's plain run, what it says, and the noise of its identical runs."""

    run: Run
    facts: Facts
    noise: Noise


class _Check:
    def __init__(self, settings: Settings, work: Path, log) -> None:
        self.settings, self.log = settings, log
        self.box = _Sandbox(work)
        work.mkdir(parents=True, exist_ok=True)
        # Timestamps from the seed, not the clock: one seed, byte-identical homes to compare.
        self.manifest = realistic_home(self.box.pristine, settings.count, settings.seed, seed_now_ns(settings.seed),
                                       large_bytes=settings.large_bytes)
        self.manifest.write(work / "manifest.json")
        self.env = DEFAULT_ENV + settings.env
        self.inconclusive: list[str] = []
        self.home_changes: list[Finding] = []
        self.lookup_noise: dict[str, Noise] = {}

    def _run(self, template: Template, rollout: RolloutTruth | None = None, case: str = "plain") -> Run:
        values = self.box.values(rollout)
        before = oracle.snapshot(self.box.home)
        run = run_tool(template.expand(values), tool_env(self.env, values), str(self.box.user_home),
                       self.settings.timeout)
        changed = _changed(before, oracle.snapshot(self.box.home))
        if changed:
            self.home_changes.append(Finding(f"the tool changed the home it reads (`{template.text}`)",
                                             ("READ-003",), (case,), tuple(changed[:5])))
        return run

    def _facts(self, run: Run) -> Facts:
        return facts_of(run.stdout, run.stderr, self.manifest)

    def _baseline(self, template: Template) -> tuple[_Base, Facts]:
        """The plain runs of a listing command, repeated until its noise is known; and its empty-home run."""
        self.box.empty()
        nothing = self._facts(self._run(template))
        runs: list[Run] = []

        def once() -> Facts:
            self.box.fresh(None, self.manifest)
            runs.append(self._run(template))
            return self._facts(runs[-1])
        seen, noise = learn(once, self.settings.max_baseline,
                            stop=lambda: runs[-1].timed_out or bool(runs[-1].crash))
        return _Base(runs[0], seen[0], noise), nothing

    def run(self) -> Outcome:
        home_cmds = [t for t in self.settings.commands if not t.per_rollout]
        lookup_cmds = [t for t in self.settings.commands if t.per_rollout]
        baseline: dict[str, _Base] = {}
        readings: dict[str, Reading] = {}
        usable = set()
        for template in home_cmds:
            base, nothing = self._baseline(template)
            baseline[template.text] = base
            reading = read_baseline(template.text, base.run, base.facts, nothing, base.noise,
                                    len(self.manifest.rollouts), self.settings.timeout)
            self.inconclusive += reading.problems
            readings[template.text] = reading
            if reading.usable:
                usable.add(template)
            self.log(f"plain home: `{template.text}` {base.noise.runs} identical runs"
                     + (f", ignoring {base.noise.describe()}" if base.noise.size() else ""))
        lookups_before: dict[tuple[str, str], tuple[Run, Facts]] = {}
        pending: list[tuple] = []  # runs judged once the control runs have completed the noise model
        touched_by_case: dict[str, tuple[str, ...]] = {}
        for case in (c for c in CASES if c.name in self.settings.cases):
            if self.settings.active_only and case.name == "archived-zst":
                self.log(f"{case.name}: outside the declared scope (sessions/ only)")
                continue
            touched = self.box.fresh(case, self.manifest)
            touched_by_case[case.name] = tuple(r.id for r in touched)
            if not touched:
                self.log(f"{case.name}: not applicable to this home (no rollout to change)")
                continue
            for template in home_cmds:
                if template in usable:
                    pending.append((template, case, None, None, self._run(template, case=case.name), len(touched)))
            for template in lookup_cmds:
                for rollout, before in self._lookups(template, case, touched, lookups_before):
                    pending.append((template, case, rollout, before, self._run(template, rollout, case.name), 1))
            if self.settings.work is not None:
                self.box.keep(case.name)
            self.log(f"{case.name}: {len(touched)} rollouts changed")
        self._controls(baseline, usable, {(p[0], p[2].id): (p[2], p[3]) for p in pending if p[2] is not None})
        observations = []
        for template, case, rollout, before, after, touched in pending:
            if rollout is None:
                observations.append(self._observe(template, case, baseline[template.text], after, touched))
            else:
                observations.append(self._observe_lookup(template, case, rollout, before, after))
        summary = {t: _summary(base, readings[t]) for t, base in baseline.items()}
        for template in lookup_cmds:
            noise = self.lookup_noise.get(template.text, Noise())
            summary[template.text] = {"lookup": True, "noise_ignored": noise.describe()}
        findings = [self._where(f) for f in group(observations) + _dedupe(self.home_changes)]
        hung: dict[str, list[str]] = {}
        for obs in observations:
            if obs.after.timed_out:
                hung.setdefault(obs.command, []).append(obs.case)
        for command, cases in hung.items():
            self.inconclusive.append(f"`{command}` hangs: killed after {self.settings.timeout:g} s in "
                                     f"{len(cases)} run(s), cases {', '.join(dict.fromkeys(cases))}")
        if not observations and not findings:
            self.inconclusive.append("nothing was compared: no case changed a rollout the commands could be judged on")
        verdict = "failed" if findings else "inconclusive" if self.inconclusive else "passed"
        return Outcome(verdict, tuple(findings), tuple(dict.fromkeys(self.inconclusive)), tuple(observations),
                       summary, self.manifest, touched_by_case)

    def _where(self, finding: Finding) -> Finding:
        """Say where the files a finding cites can be looked at: kept, or how to keep them."""
        cited = finding.examples + (finding.detail,)
        if not any("/" in text or any(r.id in text for r in self.manifest.rollouts) for text in cited):
            return finding
        if self.settings.work is None:
            note = ("the paths are in a temporary folder removed after the run: rerun with --keep DIR to keep "
                    "the plain home, each case's home and manifest.json")
        else:
            note = (f"kept with --keep: each case's home is {self.box.work / 'cases'}/CASE/.codex (the runs saw it "
                    f"as {self.box.home}), the plain one {self.box.pristine}")
        return dataclasses.replace(finding, detail=(finding.detail + "\n" + note).strip())

    def _controls(self, baseline: dict, usable: set, lookups: dict) -> None:
        """One more plain run of each judged command after every case, its difference added to the noise.

        What drifts during the check (a clock's minutes, today's date) is noise too; the first runs,
        seconds apart, cannot show it, a run after the last case can.
        """
        for template in usable:
            base = baseline[template.text]
            self.box.fresh(None, self.manifest)
            control = self._run(template)
            if not control.timed_out and not control.crash:
                baseline[template.text] = dataclasses.replace(
                    base, noise=base.noise.plus(difference(base.facts, self._facts(control))))
        for (template, _), (rollout, (_, facts)) in lookups.items():
            self.box.fresh(None, self.manifest)
            control = self._run(template, rollout)
            if not control.timed_out and not control.crash:
                self.lookup_noise[template.text] = self.lookup_noise[template.text].plus(
                    difference(facts, self._facts(control)))

    def _observe(self, template: Template, case: Case, base: _Base, after: Run, touched: int) -> Observation:
        change = compare(base.facts, self._facts(after), self.manifest, base.noise)
        return Observation(template.text, case.name, base.run, after, change, base.facts.sessions_seen, touched)

    def _lookup_baseline(self, template: Template, rollout: RolloutTruth) -> tuple[Run, Facts]:
        """The plain lookup of one session, repeated until its noise is known (added to the command's)."""
        runs: list[Run] = []

        def once() -> Facts:
            self.box.fresh(None, self.manifest)
            runs.append(self._run(template, rollout))
            return self._facts(runs[-1])
        seen, noise = learn(once, min(LOOKUP_MAX_RUNS, self.settings.max_baseline), min_runs=2, settle=1,
                            stop=lambda: runs[-1].timed_out or bool(runs[-1].crash))
        self.lookup_noise[template.text] = self.lookup_noise.get(template.text, Noise()) | noise
        return runs[0], seen[0]

    def _lookups(self, template: Template, case: Case, touched, cache: dict) -> list[tuple[RolloutTruth, tuple]]:
        """Up to ``lookups_per_case`` touched rollouts whose plain lookup shows something, with that run.

        Something: the session's id or marker, or a number, from a run that neither hung nor crashed.
        Candidates the lookup shows nothing of even before (outside the tool's scope, say) are passed
        over; when none shows anything, that part is inconclusive.
        """
        wanted = self.settings.lookups_per_case
        in_scope = tuple(r for r in touched if not (self.settings.active_only and r.archived))
        candidates = _spread(in_scope, 4 * wanted)
        chosen = []
        for rollout in candidates:
            if (template.text, rollout.id) not in cache:
                cache[(template.text, rollout.id)] = self._lookup_baseline(template, rollout)
            before = cache[(template.text, rollout.id)]
            plain_ok = not before[0].timed_out and not before[0].crash
            if plain_ok and (before[1].seen(rollout) or any(line.numbers for line in before[1].lines)):
                chosen.append((rollout, before))
            if len(chosen) == wanted:
                break
        self.box.fresh(case, self.manifest)
        if candidates and not chosen:
            self.inconclusive.append(f"`{template.text}` shows nothing of any of {len(candidates)} sessions of "
                                     f"case {case.name} (neither id, first message nor a number) even before "
                                     "compression" + ("" if self.settings.active_only else
                                                      "; a tool that reads sessions/ only: --scope sessions"))
        return chosen

    def _observe_lookup(self, template: Template, case: Case, rollout: RolloutTruth, before: tuple,
                        after: Run) -> Observation:
        run_before, b = before
        a = self._facts(after)
        lost = (b.count("markers", rollout.id) and not a.count("markers", rollout.id)) or \
            (b.count("ids", rollout.id) and not a.count("ids", rollout.id))  # its first message, or its id, gone
        # Only this session's numbers are compared: what else a lookup names is not its subject.
        change = dataclasses.replace(compare(b, a, self.manifest, self.lookup_noise[template.text]),
                                     disappeared=(), lost_content=(), duplicated=(), session_streams=())
        return Observation(template.text, case.name, run_before, after, change, 1, 1, rollout.id, bool(lost))


def _summary(base: _Base, reading: Reading) -> dict:
    facts = base.facts
    return {"exit_code": base.run.exit_code, "sessions_seen": facts.sessions_seen,
            "sessions_seen_by_stream": {s: facts.seen_in(s) for s in ("stdout", "stderr")},
            "crash": base.run.crash, "baseline_runs": base.noise.runs, "noise_ignored": base.noise.describe(),
            "ambiguous_fragments": list(facts.ambiguous[:5]), "reading": reading.note,
            "first_lines": list(reading.first_lines)}


def _spread(items: tuple[RolloutTruth, ...], n: int) -> list[RolloutTruth]:
    if n <= 0 or not items:
        return []
    step = max(1, len(items) // n)
    return list(items[::step][:n])


def _changed(before: dict, after: dict) -> list[str]:
    def key(state):
        return (state.sha256, state.mode, state.mtime_ns)
    return sorted(p for p in set(before) | set(after)
                  if p not in before or p not in after or key(before[p]) != key(after[p]))


def _dedupe(findings: list[Finding]) -> list[Finding]:
    merged: dict[str, Finding] = {}
    for f in findings:
        old = merged.get(f.title)
        merged[f.title] = f if old is None else Finding(
            f.title, f.requirements, tuple(dict.fromkeys(old.cases + f.cases)), old.examples, old.detail)
    return list(merged.values())
