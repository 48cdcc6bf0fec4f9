"""The one test of a soak: run one seed where this worker is, and send its verdict and bundle home.

Contract: each item runs :func:`~race_harness.soak.seed_run.run_seed` in a temporary folder of this
worker, puts the verdict (with who ran it: worker id, host, pid, network namespace) and, for a failing
seed, its bundle packed as one string into the report's ``user_properties`` (``soak``,
``soak-bundle``), which xdist carries back over its channel, removes the local copy, and fails
unless the seed passed, so pytest's own summary names the failing seeds too.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile

import pytest

from race_harness.soak import transfer
from race_harness.soak.plan import SoakPlan
from race_harness.soak.seed_run import run_seed
from race_harness.verdict import PASSED

#: Keys of the report's user_properties the controller reads (race_harness.soak.collect).
VERDICT, BUNDLE = "soak", "soak-bundle"


def where(config) -> dict:
    """Who runs this item: xdist worker id ("main" without xdist), host name, pid, network namespace."""
    workerid = getattr(config, "workerinput", {}).get("workerid", "main")
    return {"id": workerid, "host": socket.gethostname(), "pid": os.getpid(), "netns": os.readlink("/proc/self/ns/net")}


def test_seed(soak_item, request):
    kind, seed = soak_item
    plan = SoakPlan.from_json(request.config.getoption("soak_plan"))
    local = tempfile.mkdtemp(prefix=f"soak-{kind}-{seed}-")
    try:
        result = run_seed(plan, kind, seed, os.path.join(local, "work"), os.path.join(local, "bundles"))
        request.node.user_properties.append((VERDICT, dict(result.as_dict(), worker=where(request.config))))
        if result.bundle:
            request.node.user_properties.append((BUNDLE, transfer.pack(result.bundle)))
    finally:
        shutil.rmtree(local, ignore_errors=True)
    if result.status != PASSED:
        pytest.fail(result.describe(), pytrace=False)
