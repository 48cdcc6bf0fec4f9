"""``probe``: whether a home's filesystem can carry the coordination schemes of SPEC.md (issue #25)."""
