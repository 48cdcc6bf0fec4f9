"""The checker's header_failed class fires: readers in a campaign ask ``header`` while rollouts are
compressed and materialized, and a header that fails on a rollout nothing moved or deleted is filed
under READ-011, while the reference passes the same seeded campaign."""

from __future__ import annotations

from helpers.campaigns import campaign, violations_of

# No archivers: a header is judged only on rollouts nothing moved or deleted.
SHORT = dict(archivers=0)


def test_a_header_that_fails_mid_transition_is_filed_under_read_011(tmp_path):
    """The gallery's header-refuses-a-pair meets a pair inside a compression's or materialization's
    own window (the first seed that shows it); the reference, on that seed, shows no violation."""
    seed, found = violations_of("header_failed", "header-refuses-a-pair", tmp_path / "mutant", **SHORT)
    assert found, "no campaign caught a header that fails while both representations exist"
    assert {v.requirement for v in found} == {"READ-011"}
    assert "a header of an existing rollout failed: conflict" in found[0].witness, found[0].witness
    verdict = campaign("reference", tmp_path / "reference", seed, **SHORT)
    assert verdict.status == "passed", verdict.describe()
    assert verdict.stats["operations"]["header"]["ok"], verdict.stats["operations"]
