"""Numbers owned by other parts of the project: race-harness time-to-detection, suite wall time.

They are read from a ``benchmark_numbers()`` function of ``race_harness`` or ``conformance.suite``
when one exists (returning ``{label: value_with_unit}``); otherwise the report says so.
"""

from __future__ import annotations

import importlib

SOURCES = {
    "race harness time-to-detection": "race_harness",
    "conformance suite wall time": "conformance.suite",
}


def run() -> dict:
    out = {}
    for label, module_name in SOURCES.items():
        try:
            module = importlib.import_module(module_name)
            numbers = getattr(module, "benchmark_numbers", None)
            out[label] = {"source": module_name, "numbers": dict(numbers())} if callable(numbers) else None
        except Exception as exc:  # someone else's module: never let it break the benchmarks
            out[label] = {"source": module_name, "error": f"{type(exc).__name__}: {exc}"}
    return out
