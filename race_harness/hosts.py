"""Named hosts for a run's actors: each with its own path to one shared folder and, unless its actors
are processes on this machine, the execnet gateway that starts them there.

Contract: :meth:`Host.parse` reads ``NAME=PATH[@GATEWAY]`` (GATEWAY an execnet spec: ``popen``,
``socket=HOST:PORT``, ``ssh=USER@HOST``...); :class:`Placement` says which host each store role's
actors run on (a role not placed, and the harness's own actors, run on the controller's host: the
first host without a gateway) and through which path each sees the run's home.  A run makes its
home in a fresh subfolder of the shared folder, through the controller's path, where the checker
reads it too; every other host sees the same subfolder under its own path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from race_harness.roles import STORE_ROLES


@dataclass(frozen=True)
class Host:
    """One named host: its path to the shared folder, and its execnet gateway ("": this machine)."""

    name: str
    path: str
    gateway: str = ""

    @classmethod
    def parse(cls, text: str) -> "Host":
        """``NAME=PATH[@GATEWAY]``; raises ValueError saying what a good one looks like."""
        name, equals, rest = text.partition("=")
        path, _, gateway = rest.partition("@")
        if not equals or not name.isidentifier() or not path:
            raise ValueError(f"--host {text!r}: give NAME=PATH[@GATEWAY], NAME a plain name, PATH that host's "
                             "path to the shared folder, GATEWAY an execnet spec (e.g. --host a=/mnt/one "
                             "--host b=/srv/home@ssh=me@b.example)")
        if not os.path.isabs(path):
            raise ValueError(f"--host {text!r}: PATH must be absolute (it is a path on that host)")
        return cls(name, path, gateway)

    def spec(self) -> str:
        """The ``--host`` argument that names this host again."""
        return f"{self.name}={self.path}" + (f"@{self.gateway}" if self.gateway else "")


@dataclass(frozen=True)
class Placement:
    """The hosts of a run and the host of each placed role (empty: every actor here, as always)."""

    hosts: tuple[Host, ...] = ()
    roles: tuple[tuple[str, str], ...] = ()  # (role, host name)

    @classmethod
    def of(cls, hosts=(), place=()) -> "Placement":
        """From ``--host`` strings and (role, host name) pairs, however a bundle's JSON stored them;
        raises ValueError naming what is wrong and how to say it right."""
        parsed = tuple(Host.parse(text) for text in hosts)
        roles = tuple((str(role), str(name)) for role, name in place)
        names = [host.name for host in parsed]
        if len(set(names)) != len(names):
            raise ValueError(f"--host names a host twice: {', '.join(names)}")
        for role, name in roles:
            if role not in STORE_ROLES:
                raise ValueError(f"--place {role}={name}: ROLE is one of {', '.join(STORE_ROLES)}")
            if name not in names:
                raise ValueError(f"--place {role}={name}: no --host {name}=PATH[@GATEWAY] names that host")
        if len(dict(roles)) != len(roles):
            raise ValueError("--place names a role twice")
        if parsed and not any(not host.gateway for host in parsed):
            raise ValueError("every --host has a gateway: name this machine's path too (--host NAME=PATH without "
                             "@GATEWAY); the controller makes the home and the checker reads it there")
        return cls(parsed, roles)

    def __bool__(self) -> bool:
        return bool(self.hosts)

    @property
    def controller(self) -> Host:
        """The controller's host: the first without a gateway."""
        return next(host for host in self.hosts if not host.gateway)

    def host_of(self, role: str) -> Host:
        """The host ``role``'s actors run on (the controller's for a role not placed and for the harness)."""
        name = dict(self.roles).get(role)
        return next(host for host in self.hosts if host.name == name) if name else self.controller

    def params(self) -> dict:
        """What a bundle's params record (and :meth:`of` reads back)."""
        return {"hosts": [host.spec() for host in self.hosts], "placement": [list(pair) for pair in self.roles]}

    def describe(self) -> str:
        placed = dict(self.roles)
        return "; ".join(f"{host.name} ({host.gateway or 'this machine'}, {host.path}): "
                         + (", ".join(role for role in STORE_ROLES if placed.get(role, self.controller.name)
                                      == host.name) or "no role") for host in self.hosts)
