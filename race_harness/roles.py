"""Which store selection plays which role in a run: writers, compressors, readers (and the harness).

Contract: :class:`Roles` maps the three store roles to selections (one selection for all of them is
the ordinary case); :func:`role_of_actor` says which role an actor plays from its name, and
:func:`role_of_point` which role's store reaches a failpoint.  Lifecycle operations (archive,
unarchive, delete) belong to the writer role: the application that owns sessions moves them.  The
setup actor that creates seed rollouts is a writer; recovery runs and cleaners are compressors (the
maintenance side); listers are readers.  Agers are the harness itself and open no store.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

STORE_ROLES = ("writer", "compressor", "reader")
HARNESS = "harness"  # actors that touch the disk themselves (agers) and open no store

_BY_PREFIX = {
    "writer": "writer", "setup": "writer", "survivor": "writer", "archiver": "writer", "deleter": "writer",
    "compressor": "compressor", "cleaner": "compressor", "recovery": "compressor",
    "reader": "reader", "lister": "reader",
    "ager": HARNESS,
}
_POINT_ROLES = {"compress": "compressor", "worker": "compressor", "cleanup": "compressor", "read": "reader"}


@dataclass(frozen=True)
class Roles:
    """The store selection of each role; ``Roles.of("reference")`` gives one store all of them."""

    writer: str
    compressor: str
    reader: str

    @classmethod
    def of(cls, selection: "str | Roles") -> "Roles":
        """``selection`` for every role (a Roles is returned as it is)."""
        if isinstance(selection, Roles):
            return selection
        return cls(selection, selection, selection)

    @classmethod
    def from_meta(cls, meta: dict) -> "Roles":
        """The roles a bundle's meta recorded (bundles older than per-role stores: one selection)."""
        recorded = meta.get("roles") or {}
        return cls(**{role: recorded.get(role) or meta["selection"] for role in STORE_ROLES})

    @property
    def uniform(self) -> bool:
        return self.writer == self.compressor == self.reader

    @property
    def default(self) -> str:
        """The selection a report names the run by: the common one, else the writer's."""
        return self.writer

    def selection(self, role: str) -> str | None:
        """The selection of ``role`` (None for the harness role: no store)."""
        return None if role == HARNESS else getattr(self, role)

    def roles_of(self, selection: str) -> tuple[str, ...]:
        return tuple(role for role in STORE_ROLES if getattr(self, role) == selection)

    def as_dict(self) -> dict:
        return asdict(self)

    def meta(self) -> dict:
        """The fields a run's meta (and so its bundle) records about its stores."""
        return {"selection": self.default, "roles": self.as_dict()}

    def describe(self) -> str:
        if self.uniform:
            return self.writer
        return ", ".join(f"{role}={getattr(self, role)}" for role in STORE_ROLES)

    def map(self, change) -> "Roles":
        """Each role's selection passed through ``change`` (e.g. wrapped in a syscall delay)."""
        return Roles(*(change(getattr(self, role)) for role in STORE_ROLES))


def role_of_actor(name: str) -> str:
    """The role actor ``name`` plays, from its name (``writer-a``, ``compressor-1.2``, ``recovery-1``)."""
    prefix = name.split("-", 1)[0].split(".", 1)[0]
    if prefix not in _BY_PREFIX:
        raise ValueError(f"actor {name!r}: no role for its name; pass role= to spawn "
                         f"(one of {', '.join(STORE_ROLES + (HARNESS,))})")
    return _BY_PREFIX[prefix]


def role_of_point(point: str) -> str:
    """The role whose store reaches ``point`` (``compress.*`` compressor, ``read.*`` reader, else writer)."""
    return _POINT_ROLES.get(point.split(".", 1)[0], "writer")
