"""The pytest side of a soak, loaded in the controller and in every worker (``-p race_harness.soak.plugin``).

Contract: ``--soak-plan=JSON`` carries the :class:`~race_harness.soak.plan.SoakPlan` to every worker
(xdist sends the controller's arguments along); :mod:`race_harness.soak.seeds`'s one test is
parametrized with the plan's ``(kind, seed)`` items, so each seed is one xdist item.
"""

from __future__ import annotations

from race_harness.soak.plan import SoakPlan, item_id


def pytest_addoption(parser) -> None:
    parser.getgroup("soak").addoption("--soak-plan", metavar="JSON", help="the soak's plan (race_harness.soak.plan)")


def pytest_generate_tests(metafunc) -> None:
    if "soak_item" in metafunc.fixturenames:
        plan = SoakPlan.from_json(metafunc.config.getoption("soak_plan"))
        items = plan.items()
        metafunc.parametrize("soak_item", items, ids=[item_id(kind, seed) for kind, seed in items])
