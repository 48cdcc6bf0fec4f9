"""The conformance kit: store selection, the stdio protocol, the oracle and the pytest suite."""

#: The package version (pyproject.toml reads it from here): a constant, because looking it up
#: through importlib.metadata costs every protocol server ~0.1 s of start-up.
__version__ = "0.1.0"
