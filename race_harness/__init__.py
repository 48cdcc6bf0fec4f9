"""The race harness: many processes, each with its own store instance, racing on one home.

Actors run operations and record a history; a controller holds them at failpoints to force
interleavings; a checker reads the disk itself (never through the store under test) and reports
violations; failing runs leave a self-contained repro bundle that ``replay`` re-imposes.
"""
