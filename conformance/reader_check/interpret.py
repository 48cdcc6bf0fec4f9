"""Whether a command's output over the plain home can be judged, and on what: sessions, numbers, both.

Recognition, not guessing: a command whose output names none of the home's sessions in any form and
prints no number that depends on the home is "could not interpret the output" (inconclusive), with
the first lines seen and a hint.  One that prints numbers about the home but names no session is
judged on its numbers only, and the report says so (with the hint when its lines grow with the
home, as a listing's do: its sessions could not be told apart).  Never "0 of N".
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance.reader_check.facts import Facts
from conformance.reader_check.noise import Noise
from conformance.reader_check.runner import Run

HINT = ("if the tool prints sessions in another form, give it its JSON output (--json) or a format flag "
        "that prints full session ids, file paths or titles, or widen a table that cuts them (--env COLUMNS=300)")


@dataclass(frozen=True)
class Reading:
    """What the plain run lets reader-check judge, and what it could not."""

    usable: bool  # there is something to compare
    sessions: bool  # the output names sessions recognisably
    problems: tuple[str, ...] = ()  # inconclusive parts, each a sentence with the fix
    note: str = ""  # how the output is judged, for the report
    first_lines: tuple[str, ...] = ()  # what it printed, when its sessions could not be recognised


def read_baseline(command: str, run: Run, facts: Facts, empty: Facts, noise: Noise, count: int,
                  timeout: float) -> Reading:
    """Judge the plain run of ``command`` (``facts``) against its run over an empty home (``empty``)."""
    if run.timed_out:
        return Reading(False, False, (f"`{command}` timed out after {timeout:g} s on the plain home, before "
                                      "anything was compressed",))
    if run.crash:
        return Reading(False, False, (f"`{command}` crashes on the plain home, before anything was "
                                      f"compressed:\n{run.crash}",))
    numbers = noise.stable(facts) != noise.stable(empty)
    if facts.sessions_seen:
        where = ", ".join(f"{facts.seen_in(s)} on {s}" for s in ("stdout", "stderr") if facts.seen_in(s))
        return Reading(True, True, note=f"names or quotes {facts.sessions_seen} of {count} sessions ({where})")
    first = "\n".join(facts.first_lines()) or "(nothing on stdout or stderr)"
    if not numbers:
        return Reading(False, False, (
            f"could not interpret the output of `{command}` (exit {run.exit_code}): it names none of the {count} "
            "sessions (no id, 8+ hex digit prefix or suffix of one, file stem, path or first-message marker) and "
            "prints no number that differs from its output over an empty home, so nothing it printed is about "
            "the sessions. Point it at the home with {home} or --env (CODEX_HOME and HOME are set already); "
            f"{HINT}. First lines seen:\n{first}",))
    grows = len(facts.lines) - len(empty.lines) >= max(2, count // 2)
    if grows:
        return Reading(True, False, note=(
            f"could not interpret the sessions in its output: {len(facts.lines)} lines for {count} sessions, none "
            f"named recognisably, so the session check is not made and it is judged on its numbers only; {HINT}"),
            first_lines=facts.first_lines())
    return Reading(True, False, note="names no session (a summary): judged on the numbers it prints")
