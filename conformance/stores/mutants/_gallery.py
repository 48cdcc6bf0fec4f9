"""The registration decorator each area module uses; the package assembles ``MUTANTS`` from them."""

from __future__ import annotations

from collections.abc import Callable


class Gallery(list):
    """Entries ``(name, breaks, mirrors, factory, kind, scenarios)`` of one area module."""

    def store(self, name: str, breaks: tuple[str, ...], mirrors: str, scenarios: tuple[str, ...] = ()):
        """Register a ReferenceStore subclass as the store mutant ``name`` (the class is the factory)."""

        def register(cls: type) -> type:
            cls.name = f"mutant-{name}"  # what hello() reports, so reports say which mutant ran
            self.append((name, breaks, mirrors, cls, "store", scenarios))
            return cls

        return register

    def program(self, name: str, breaks: tuple[str, ...], mirrors: str, factory: Callable) -> None:
        self.append((name, breaks, mirrors, factory, "program", ()))
