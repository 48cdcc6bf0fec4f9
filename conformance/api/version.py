"""The version of this package: one constant, read by pyproject.toml and named in every handshake and report.

A constant, because looking it up through importlib.metadata costs every protocol server ~0.1 s of start-up.
"""

__version__ = "0.1.0"
