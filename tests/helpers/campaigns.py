"""Seeded race campaigns for tests: a short one that must pass, or, on a mutant, campaigns that wait
for a violation class to show (shared by the tests that prove a checker class can fire).

A campaign that must *find* something is bounded by operations, not by time: a loaded machine runs
the same campaign, only slower, so the finding does not depend on how busy the machine is; the time
bound only caps it.  It is a race found by chance all the same, so the next seed is tried until one
shows the class (each one an independent chance).
"""

from __future__ import annotations

from race_harness.campaign import CampaignConfig, run_campaign

FINDING_OPS = 400  # operations over all actors of one finding campaign
CAP_SECONDS = 120.0  # only a cap: a finding campaign ends at its operation budget
ATTEMPTS = 8  # seeds tried before a test says the class never showed


def campaign(selection: str, tmp_path, seed: int, **params):
    """A 3-second campaign on ``selection`` (one archiver, three rollouts unless ``params`` say otherwise)."""
    config = CampaignConfig(**{"seconds": 3.0, "archivers": 1, "rollouts": 3, **params, "seed": seed})
    return run_campaign(selection, config, str(tmp_path / f"work-{seed}"), str(tmp_path / f"bundles-{seed}"))


def until_found(selection: str, tmp_path, cls: str, first_seed: int = 1, **params):
    """(config, verdict) of the first operation-bounded campaign on seeds ``first_seed``, ``first_seed + 1``,
    ... that finds ``cls`` (up to :data:`ATTEMPTS` of them), or (None, last verdict)."""
    verdict = None
    for seed in range(first_seed, first_seed + ATTEMPTS):
        config = CampaignConfig(**{"seconds": CAP_SECONDS, "ops": FINDING_OPS, **params, "seed": seed})
        verdict = run_campaign(selection, config, str(tmp_path / f"work-{seed}"), str(tmp_path / f"bundles-{seed}"))
        if cls in verdict.classes:
            return config, verdict
    return None, verdict


def violations_of(cls: str, mutant: str, tmp_path, first_seed: int = 1, **params) -> tuple[int | None, list]:
    """The first seed whose campaign on ``mutant`` finds ``cls`` violations, and those (None, [] if none);
    one archiver and three rollouts unless ``params`` say otherwise."""
    config, verdict = until_found(f"mutant:{mutant}", tmp_path, cls, first_seed,
                                  **{"archivers": 1, "rollouts": 3, **params})
    if config is None:
        return None, []
    return config.seed, [v for v in verdict.violations if v.cls == cls]
