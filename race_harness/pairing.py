"""Cross-scheme pairings: a store's half of each coordination scheme raced against the reference's.

A store that follows two schemes can hide a bug in one scheme's half behind the other: its own
compressor still honours the locks of the scheme it got right.  So besides racing a store against
itself, its writers race each single-scheme reference compressor (``reference:<scheme>``) and its
compressor each single-scheme reference writer, for every scheme it declares.

Contract: :func:`pairings` lists the :class:`Pairing` runs a store's hello makes relevant (none
that would only race the store against itself); :func:`run_pairing` runs one seeded campaign of a
pairing and returns its verdict, named after the pairing, with the lines-lost family of violations
filed under the requirement of the store's half of that scheme (:data:`HALF_REQUIREMENT`), since
the reference's half is known to be right.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from conformance.stores.selection import REFERENCE_SCHEMES
from race_harness.campaign import CampaignConfig, run_campaign
from race_harness.checker import Violation
from race_harness.interop import campaign_config
from race_harness.roles import Roles
from race_harness.verdict import Verdict

#: The requirement of a store's half of a scheme: what its writers (or its compressor) must do so
#: that the other half, here the reference's, can keep every acknowledged line.
HALF_REQUIREMENT = {
    ("writer", "inode-flock"): "COORD-001",
    ("writer", "codex-thread-locks"): "CTL-001",
    ("compressor", "inode-flock"): "COORD-003",
    ("compressor", "codex-thread-locks"): "CTL-003",
}
#: Violations that say a writer and a compressor did not see each other (COORD-009's family).
_UNCOORDINATED = ("lost_line", "duplicate_line", "order", "read_not_prefix")


@dataclass(frozen=True)
class Pairing:
    """One cross-scheme run: the store plays ``half`` (writer or compressor), ``reference:<scheme>`` the other."""

    store: str
    half: str
    scheme: str
    roles: Roles

    @property
    def name(self) -> str:
        other = "compressor" if self.half == "writer" else "writer"
        return f"{self.half}s of {self.store} vs {other} reference:{self.scheme}"

    @property
    def requirement(self) -> str:
        return HALF_REQUIREMENT[(self.half, self.scheme)]


def pairings(selection: str, capabilities, coordination) -> list[Pairing]:
    """The pairings of a store that declared ``capabilities`` and ``coordination`` (its hello's)."""
    found = []
    for scheme in (s for s in REFERENCE_SCHEMES if s in coordination):
        reference = f"reference:{scheme}"
        if selection == reference:
            continue  # the same store on both sides: its own race already ran
        if "writer" in capabilities:
            reader = selection if "reader" in capabilities else reference
            found.append(Pairing(selection, "writer", scheme, Roles(selection, reference, reader)))
        if "compressor" in capabilities:
            found.append(Pairing(selection, "compressor", scheme, Roles(reference, selection, reference)))
    return found


def pairing_config(seconds: float, seed: int) -> CampaignConfig:
    """The campaign of a pairing in ``check``: the interop matrix's (two writers, a compressor, a reader, an ager)."""
    return campaign_config(seconds, seed)


def run_pairing(pairing: Pairing, config: CampaignConfig, root: str, bundle_dir: str | None = None) -> Verdict:
    """One campaign of ``pairing``, judged and named after it."""
    verdict = run_campaign(pairing.roles, config, root, bundle_dir)
    violations = tuple(_filed(v, pairing) for v in verdict.violations)
    note = (f"cross-scheme pairing: {pairing.name} (roles {pairing.roles.describe()}); a lost line here is "
            f"the store's half of {pairing.scheme}: {pairing.requirement}")
    return replace(verdict, name=f"pairing {pairing.name}", violations=violations, notes=(note, *verdict.notes))


def _filed(violation: Violation, pairing: Pairing) -> Violation:
    if violation.cls not in _UNCOORDINATED:
        return violation
    return replace(violation, requirement=pairing.requirement,
                   witness=f"{violation.witness} (outcome {violation.requirement}; against reference:{pairing.scheme}, "
                           f"so the store's {pairing.half} half of {pairing.scheme} failed)")
