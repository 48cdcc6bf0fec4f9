"""The controller's half of a soak: one row per seed from the reports the workers send back.

Contract: :class:`Collector` is a pytest plugin object for the process that started the soak; for
each seed's report it keeps the verdict row (with the worker that ran it and, for a remote worker,
its gateway spec), unpacks a failing seed's bundle under ``bundle_dir`` and points the row at it.  An
item that broke before it could judge (a harness error, a crashed worker) is an inconclusive row
saying what pytest said; a seed whose item never reported stays out (the report counts it not run).
"""

from __future__ import annotations

import re

from race_harness.soak import transfer
from race_harness.soak.plan import parse_item_id
from race_harness.soak.seeds import BUNDLE, VERDICT
from race_harness.verdict import INCONCLUSIVE

_ITEM = re.compile(r"\[(?P<id>[a-z]+-\d+)\]$")
#: xdist prefixes every spec with its execution model; the report shows the spec as the user gave it.
_EXECMODEL = re.compile(r"^execmodel=[^/]*//")


class Collector:
    """Rows by item id, filled from ``pytest_runtest_logreport`` as the workers finish seeds."""

    def __init__(self, bundle_dir: str) -> None:
        self.bundle_dir = bundle_dir
        self.rows: dict[str, dict] = {}

    def pytest_runtest_logreport(self, report) -> None:
        found = _ITEM.search(report.nodeid)
        if not found:
            return
        name = found.group("id")
        properties = dict(report.user_properties)
        gateway = _gateway(report)
        if VERDICT in properties and report.when == "call":  # the teardown's report carries them again
            row = dict(properties[VERDICT])
            row["worker"] = dict(row["worker"], gateway=gateway)
            if BUNDLE in properties:
                row["bundle"] = transfer.unpack(properties[BUNDLE], self.bundle_dir, row["bundle"])
            self.rows[name] = row
        elif report.failed and VERDICT not in properties and name not in self.rows:
            kind, seed = parse_item_id(name)
            said = str(report.longrepr).strip().splitlines() or ["(no message)"]
            self.rows[name] = {"kind": kind, "seed": seed, "name": name, "status": INCONCLUSIVE, "classes": [],
                               "requirements": [], "bundle": "", "seconds": round(report.duration, 3),
                               "notes": [f"the seed's run broke before it judged ({report.when}): {said[-1][:300]}"],
                               "worker": {"id": _worker_id(report), "gateway": gateway}}


def _worker_id(report) -> str:
    node = getattr(report, "node", None)
    return node.gateway.id if node is not None else "main"


def _gateway(report) -> str:
    """The execnet spec of the worker that sent ``report`` ("" when it ran in this process)."""
    node = getattr(report, "node", None)
    if node is None:
        return ""
    return _EXECMODEL.sub("", str(node.gateway.spec))
