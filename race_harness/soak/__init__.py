"""Soaks: many seeded runs (random race campaigns, state-machine runs) spread by pytest-xdist over local
workers or remote execnet gateways, every failing seed's bundle brought back, one merged report.

Modules: :mod:`.plan` (what to run), :mod:`.seed_run` (one seed, one verdict), :mod:`.transfer` (a
bundle folder over the xdist channel), :mod:`.plugin` and :mod:`.seeds` (the pytest side: one item per
seed), :mod:`.collect` (the controller's merged rows), :mod:`.runner` (the pytest run and the report).
"""
