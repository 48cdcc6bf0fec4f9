"""The conformance kit: the store contract (``api``), the oracle, the protocol, store selection, the suite and the CLI."""

from conformance.api.version import __version__

__all__ = ["__version__"]
