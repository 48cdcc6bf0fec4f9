"""Benchmarks of the reference store against the zstd CLI and plain-file baselines (`python -m benchmarks`)."""
