"""Running the state-machine kit and filing its failures: the Hypothesis profiles, :func:`run_machine`,
the requirement a failed step is filed under, and the model's record of one rollout."""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass

import hypothesis
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from conformance.oracle import disk as oracle
from conformance.api.errors import StoreError

PROFILE_ENV = "ROLLOUT_HYPOTHESIS_PROFILE"
DEFAULT_PROFILE = "ci"
_COMMON = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck))
settings.register_profile("smoke", max_examples=8, stateful_step_count=15, **_COMMON)
settings.register_profile("ci", max_examples=30, stateful_step_count=25, **_COMMON)
settings.register_profile("nightly", max_examples=1000, stateful_step_count=60, **_COMMON)


class RequirementViolation(AssertionError):
    """A failed step of the machine, filed under the one requirement that step checks."""

    def __init__(self, requirement: str, message: str) -> None:
        super().__init__(f"{requirement}: {message}")
        self.requirement = requirement


def blames(requirement):
    """Decorate a rule: its failures (assertions, store errors) are filed under ``requirement``
    (a string, or a function of the machine and the rule's arguments), and so are the invariant's
    failures right after it: the step that made the store and the model disagree is to blame."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            rid = requirement(self, *args, **kwargs) if callable(requirement) else requirement
            self.last_step = (method.__name__, rid)
            try:
                return method(self, *args, **kwargs)
            except RequirementViolation:
                raise
            except (AssertionError, StoreError) as exc:
                rid = self.last_step[1]  # the rule may have refined it (see blame)
                raise RequirementViolation(rid, f"step {method.__name__}: {exc}") from exc

        return wrapper

    return decorate


def profile_name() -> str:
    """The active profile's name: ``$ROLLOUT_HYPOTHESIS_PROFILE``, else ``ci`` (other suite tests size
    their generated inputs by it too)."""
    return os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE


def profile_settings(profile: str | None = None) -> settings:
    """The settings of ``profile``, else of ``$ROLLOUT_HYPOTHESIS_PROFILE``, else of ``ci``."""
    return settings.get_profile(profile or profile_name())


def run_machine(
    machine: type[RuleBasedStateMachine], profile: str | None = None, seed: int | None = None, **overrides
) -> None:
    """Run ``machine`` as one test under ``profile`` (see :func:`profile_settings`); raises on failure.

    With ``seed`` the run is reproducible: the same store and seed draw the same steps, so they give
    the same verdict (the suite passes the run's ``--seed``).
    """
    if seed is not None:
        machine = hypothesis.seed(seed)(type(machine.__name__, (machine,), {}))
    with without_local_constants():
        run_state_machine_as_test(machine, settings=settings(profile_settings(profile), **overrides))


@contextlib.contextmanager
def without_local_constants():
    """Draw as a seed says, whatever else the process loaded.

    Hypothesis mixes the literals of every *local* module loaded in the process (test files, the
    store's code, ``__main__``) into a few of its draws (``hypothesis.internal.conjecture.providers``),
    so the same seed drew different steps depending on which other tests had run in the same pytest
    worker.  Inside this block it draws only its own built-in constants.
    """
    from hypothesis.internal.conjecture import providers

    collect = getattr(providers, "_get_local_constants", None)
    cache = getattr(providers, "CONSTANTS_CACHE", None)
    if collect is None or cache is None:  # a Hypothesis without the pool: nothing to neutralise
        yield
        return
    empty = providers.Constants()
    providers._get_local_constants = lambda: empty
    cache.cache.clear()  # holds pools computed with the local constants
    try:
        yield
    finally:
        providers._get_local_constants = collect
        cache.cache.clear()


@dataclass
class ModelRollout:
    id: str
    name: str  # plain file name
    lines: list[bytes]
    archived: bool = False
    rep: str = "plain"  # the representation a reader must select
    leftover: str | None = None  # crash leftover on disk: "equal" (.zst == plain) or "prefix" (stale .zst)
    deleted: bool = False

    @property
    def path(self) -> str:
        return oracle.archived_path(self.name) if self.archived else oracle.active_path(self.name)

    @property
    def data(self) -> bytes:
        return b"".join(self.lines)


def model_line(tag: str, text: str) -> str:
    """One user-message JSON line (no newline) whose text starts with ``tag``, as the machine writes them."""
    return oracle.user_message_line(f"{tag} {text}").decode()[:-1]
