"""The before/after run: one plain home, the tool over it twice, then over each hard case."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from conformance.oracle import disk as oracle
from conformance.oracle.homegen import HomeManifest, RolloutTruth, realistic_home
from conformance.reader_check.cases import CASES, Case
from conformance.reader_check.facts import Change, Facts, compare, facts_of, unstable
from conformance.reader_check.findings import Finding, Observation, group
from conformance.reader_check.runner import Run, Template, run_tool, tool_env

#: Settings every run gets unless ``--env`` says otherwise: the generated home is the user's
#: ``~/.codex``, and caches and configs live beside it, so nothing leaks between runs or from yours.
DEFAULT_ENV = (("HOME", "{user_home}"), ("CODEX_HOME", "{home}"), ("XDG_CACHE_HOME", "{user_home}/.cache"),
               ("XDG_CONFIG_HOME", "{user_home}/.config"), ("XDG_DATA_HOME", "{user_home}/.local/share"))


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


@dataclass(frozen=True)
class Outcome:
    """The verdict and everything it rests on."""

    verdict: str  # passed | failed | inconclusive
    findings: tuple[Finding, ...]
    inconclusive: tuple[str, ...]  # why a part could not be judged
    observations: tuple[Observation, ...]
    baseline: dict  # command -> (exit code, sessions seen, numbers seen)
    manifest: HomeManifest
    touched: dict  # case -> rollouts it changed

    @property
    def exit_code(self) -> int:
        return {"passed": 0, "failed": 1, "inconclusive": 3}[self.verdict]


class _Sandbox:
    """A pristine home and the one place every run happens, so paths in outputs never differ."""

    def __init__(self, work: Path) -> None:
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

    def values(self, rollout: RolloutTruth | None = None) -> dict[str, str]:
        out = {"home": str(self.home), "sessions": str(self.home / "sessions"), "user_home": str(self.user_home),
               "archived_sessions": str(self.home / "archived_sessions"), "id": "", "path": "", "logical": "",
               "marker": ""}
        if rollout is not None:
            physical = oracle.representations(self.home, rollout.logical)
            out.update(id=rollout.id, marker=rollout.marker, logical=str(self.home / rollout.logical),
                       path=str(self.home / (physical[0] if physical else rollout.logical)))
        return out


def run_check(settings: Settings, log: Callable[[str], None] = lambda _: None) -> Outcome:
    """Build the home, run every command before and in every case, and judge."""
    work = settings.work or Path(tempfile.mkdtemp(prefix="reader-check-"))
    try:
        return _Check(settings, work, log).run()
    finally:
        if settings.work is None:
            shutil.rmtree(work, ignore_errors=True)


class _Check:
    def __init__(self, settings: Settings, work: Path, log) -> None:
        self.settings, self.log = settings, log
        self.box = _Sandbox(work)
        work.mkdir(parents=True, exist_ok=True)
        self.manifest = realistic_home(self.box.pristine, settings.count, settings.seed,
                                       large_bytes=settings.large_bytes)
        self.manifest.write(work / "manifest.json")
        self.env = DEFAULT_ENV + settings.env
        self.inconclusive: list[str] = []
        self.home_changes: list[Finding] = []

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

    def run(self) -> Outcome:
        home_cmds = [t for t in self.settings.commands if not t.per_rollout]
        lookup_cmds = [t for t in self.settings.commands if t.per_rollout]
        baseline, noise, usable = {}, {}, set()
        for template in home_cmds:
            self.box.empty()
            nothing = facts_of(self._run(template).stdout, self.manifest)
            self.box.fresh(None, self.manifest)
            first = self._run(template)
            self.box.fresh(None, self.manifest)
            second = self._run(template)
            baseline[template.text] = first
            noise[template.text] = unstable(facts_of(first.stdout, self.manifest), facts_of(second.stdout, self.manifest))
            if self._judge_baseline(template, first, nothing):
                usable.add(template)
        lookups_before: dict[tuple[str, str], Run] = {}
        observations: list[Observation] = []
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
                    observations.append(self._observe(template, case, baseline[template.text],
                                                      noise[template.text], len(touched)))
            for template in lookup_cmds:
                for rollout, before in self._lookups(template, case, touched, lookups_before):
                    observations.append(self._observe_lookup(template, case, rollout, before))
            self.log(f"{case.name}: {len(touched)} rollouts changed")
        findings = group(observations) + _dedupe(self.home_changes)
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
        summary = {t: {"exit_code": r.exit_code, "sessions_seen": facts_of(r.stdout, self.manifest).sessions_seen,
                       "crash": r.crash} for t, r in baseline.items()}
        return Outcome(verdict, tuple(findings), tuple(dict.fromkeys(self.inconclusive)), tuple(observations),
                       summary, self.manifest, touched_by_case)

    def _judge_baseline(self, template: Template, run: Run, nothing: Facts) -> bool:
        """True when the plain run says something to compare; otherwise say why not."""
        facts = facts_of(run.stdout, self.manifest)
        if run.timed_out:
            self.inconclusive.append(f"`{template.text}` timed out after {self.settings.timeout:g} s on the plain "
                                     "home, before anything was compressed")
        elif run.crash:
            self.inconclusive.append(f"`{template.text}` crashes on the plain home, before anything was "
                                     f"compressed:\n{run.crash}")
        elif facts.sessions_seen or facts.numbers != nothing.numbers:
            return True
        else:
            self.inconclusive.append(
                f"`{template.text}` printed nothing about the {len(self.manifest.rollouts)} sessions of the plain "
                f"home (exit {run.exit_code}): point it at the home with {{home}} or --env (CODEX_HOME and HOME "
                "are set already)")
        return False

    def _observe(self, template: Template, case: Case, before: Run, noise, touched: int) -> Observation:
        after = self._run(template, case=case.name)
        b, a = facts_of(before.stdout, self.manifest), facts_of(after.stdout, self.manifest)
        change = compare(b, a, self.manifest, *noise)
        return Observation(template.text, case.name, before, after, change, b.sessions_seen, touched)

    def _lookups(self, template: Template, case: Case, touched, cache: dict) -> list[tuple[RolloutTruth, Run]]:
        """Up to ``lookups_per_case`` touched rollouts whose plain lookup shows something, with that run.

        Candidates the lookup shows nothing of even before (outside the tool's scope, say) are passed
        over; when none shows anything, that part is inconclusive.
        """
        wanted = self.settings.lookups_per_case
        in_scope = tuple(r for r in touched if not (self.settings.active_only and r.archived))
        candidates = _spread(in_scope, 4 * wanted)
        chosen = []
        for rollout in candidates:
            if (template.text, rollout.id) not in cache:
                self.box.fresh(None, self.manifest)
                cache[(template.text, rollout.id)] = self._run(template, rollout)
            before = cache[(template.text, rollout.id)]
            if any(_about(before, rollout, self.manifest)):
                chosen.append((rollout, before))
            if len(chosen) == wanted:
                break
        self.box.fresh(case, self.manifest)
        if candidates and not chosen:
            self.inconclusive.append(f"`{template.text}` shows nothing of any of {len(candidates)} sessions of "
                                     f"case {case.name} (neither id nor first message) even before compression"
                                     + ("" if self.settings.active_only else "; a tool that reads sessions/ only: "
                                        "--scope sessions"))
        return chosen

    def _observe_lookup(self, template: Template, case: Case, rollout: RolloutTruth, before: Run) -> Observation:
        after = self._run(template, rollout, case.name)
        b, a = _about(before, rollout, self.manifest), _about(after, rollout, self.manifest)
        lost = (b[0] and not a[0]) or (b[1] and not a[1])  # its first message, or its id, gone
        return Observation(template.text, case.name, before, after, _NO_CHANGE, 1, 1, rollout.id, bool(lost))


_NO_CHANGE = Change((), (), (), (), ())


def _about(run: Run, rollout: RolloutTruth, manifest: HomeManifest) -> tuple[bool, bool]:
    facts: Facts = facts_of(run.stdout, manifest)
    return bool(facts.markers[rollout.id]), bool(facts.ids[rollout.id])


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
