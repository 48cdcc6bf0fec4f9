"""The conformance tests, one module per area; run them with ``rollout-conformance suite``."""
