"""The conformance kit: store selection, the stdio protocol, the oracle and the pytest suite."""
