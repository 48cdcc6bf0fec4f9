"""Short seeded race campaigns for tests: run one, or run several on a mutant until one shows a
violation class (shared by the tests that prove a checker class can fire)."""

from __future__ import annotations

from race_harness.campaign import CampaignConfig, run_campaign


def campaign(selection: str, tmp_path, seed: int, **params):
    """A 3-second campaign on ``selection`` (one archiver, three rollouts unless ``params`` say otherwise)."""
    config = CampaignConfig(**{"seconds": 3.0, "archivers": 1, "rollouts": 3, **params, "seed": seed})
    return run_campaign(selection, config, str(tmp_path / f"work-{seed}"), str(tmp_path / f"bundles-{seed}"))


def violations_of(cls: str, mutant: str, tmp_path, seeds: tuple[int, ...], **params) -> tuple[int | None, list]:
    """The first seed whose campaign on ``mutant`` finds ``cls`` violations, and those (None, [] if none)."""
    for seed in seeds:
        found = [v for v in campaign(f"mutant:{mutant}", tmp_path, seed, **params).violations if v.cls == cls]
        if found:
            return seed, found
    return None, []
