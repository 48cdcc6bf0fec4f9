"""``rollout-conformance``: the single top of the project; every subcommand lives in a module of this package."""
