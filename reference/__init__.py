"""The reference rollout store: every requirement of SPEC.md, closed against races R1-R12."""
