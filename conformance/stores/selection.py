"""The one store-selection syntax used by the CLI, the pytest plugin and the race harness.

Contract: :func:`open_store` turns ``reference`` (or ``reference:<scheme>``), ``py:package.module:factory``,
``cmd:<command line>``, ``mutant:<name>``, ``variant:<name>``, ``codex``, ``codex:VERSION`` or ``codex:/path/to/codex`` into an object satisfying
:class:`conformance.store_api.Store`, or raises :class:`SelectionError` saying which forms exist.
"""

from __future__ import annotations

import importlib
import importlib.util
import shlex
import sys
from collections.abc import Callable

from conformance.api.store import Store

#: The coordination schemes ``reference:<scheme>`` may name (the reference follows both by default).
REFERENCE_SCHEMES = ("inode-flock", "codex-thread-locks")

FORMS = (
    "reference (the reference store, in process, following both coordination schemes), "
    "reference:inode-flock or reference:codex-thread-locks (the reference following that scheme alone), "
    "py:package.module:factory (factory() returns a Store, in process), "
    "cmd:<command line> (a program speaking the stdio protocol of PROTOCOL.md), "
    "mutant:<name> (a deliberately broken reference from conformance.stores.mutants.MUTANTS), "
    "variant:<name> (a correct variant of the reference from conformance.stores.mutants.variants.VARIANTS), "
    "codex (the real Codex CLI: the pinned install of `rollout-conformance codex install`, else codex on PATH), "
    "codex:VERSION (that release, installed by `rollout-conformance codex install VERSION`), "
    "codex:/path/to/codex (that codex binary)"
)


class SelectionError(ValueError):
    """A store selection that cannot be honoured; the message lists the accepted forms."""


def _bad(selection: str, why: str) -> SelectionError:
    return SelectionError(f"cannot use store {selection!r}: {why}. Accepted forms: {FORMS}")


def _parse(selection: str) -> tuple[str, str]:
    """(form, argument) of a syntactically valid selection."""
    if selection in ("reference", "codex"):
        return selection, ""
    form, colon, argument = selection.partition(":")
    if not colon or form not in ("reference", "py", "cmd", "mutant", "variant", "codex"):
        raise _bad(selection, "unknown form")
    if form == "codex" and argument[:1].isdigit() and "/" not in argument:
        from conformance.stores.codex.install import is_version

        if not is_version(argument):
            raise _bad(selection, f"{argument!r} is neither a release number such as 0.171.0 nor a path to a "
                                  "codex binary (write ./name for a file in this folder)")
    if form == "reference" and argument not in REFERENCE_SCHEMES:
        raise _bad(selection, f"the reference follows {' or '.join(REFERENCE_SCHEMES)}, not {argument!r}")
    if not argument.strip():
        raise _bad(selection, f"nothing after {form}:")
    if form == "py" and argument.count(":") != 1:
        raise _bad(selection, "py: needs exactly package.module:factory")
    return form, argument


def describe(selection: str) -> str:
    """One human-readable line saying what ``selection`` runs (raises SelectionError if invalid)."""
    form, argument = _parse(selection)
    if form == "reference" and argument:
        return f"the reference store following only the {argument} coordination scheme (in process)"
    if form == "reference":
        return "the reference store (reference.store.ReferenceStore, in process, both coordination schemes)"
    if form == "py":
        return f"the store returned by {argument.replace(':', '.')}() (in process)"
    if form == "cmd":
        return f"the program `{argument}` over the stdio protocol"
    if form == "codex":
        from conformance.stores.codex.install import is_version

        which = f"release {argument}" if is_version(argument) else argument or "(pinned install, else PATH)"
        return f"the Codex CLI {which} driven through codex app-server"
    if form == "variant":
        return f"the correct reference variant {argument!r} (in process)"
    return f"the reference mutant {argument!r} (in process)"


#: (selection, pool) set by :func:`reuse_programs`: the suite's own store, opened many times per process.
_reused: tuple[str, object] | None = None


def reuse_programs(selection: str, pool) -> None:
    """Let every later ``open_store(selection)`` of this process use ``pool`` (a
    :class:`conformance.server_pool.ServerPool`): what the suite's plugin does for the store under test."""
    global _reused
    _reused = (selection, pool)


def open_store(selection: str, pool=None) -> Store:
    """A fresh store for ``selection``; the caller configures it and must close it.

    ``pool`` (default: the one :func:`reuse_programs` set for this selection) lets a ``cmd:`` program that
    declared ``reopen`` serve the next store opened with the same pool instead of starting a new process."""
    if pool is None and _reused is not None and _reused[0] == selection:
        pool = _reused[1]
    form, argument = _parse(selection)
    if form == "reference":
        from reference.store import ReferenceStore

        store = ReferenceStore((argument,) if argument else None)
    elif form == "py":
        store = _python_factory(selection, argument)()
    elif form == "cmd":
        from conformance.protocol.client import CommandStore

        return CommandStore(argument, pool=pool)
    elif form == "codex":
        from conformance.stores.codex.store import CodexStore

        store = CodexStore(argument or None)
    elif form == "variant":
        store = _variant_factory(selection, argument)()
    else:
        store = _mutant_factory(selection, argument)()
    if not isinstance(store, Store):
        missing = [name for name in vars(Store) if not name.startswith("_") and not hasattr(store, name)]
        raise _bad(selection, f"the object it made ({type(store).__name__}) lacks {', '.join(sorted(missing))}")
    return store


def _python_factory(selection: str, argument: str) -> Callable[[], Store]:
    module_name, factory_name = argument.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise _bad(selection, f"cannot import {module_name!r} ({exc}); is it on PYTHONPATH?") from exc
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise _bad(selection, f"{module_name} has no callable named {factory_name!r}")
    return factory


def _mutant_factory(selection: str, name: str) -> Callable[[], Store]:
    if importlib.util.find_spec("conformance.stores.mutants") is None:
        raise _bad(selection, "this installation has no conformance.stores.mutants module")
    from conformance.stores.mutants import MUTANTS

    if name not in MUTANTS:
        raise _bad(selection, f"no mutant named {name!r}; known mutants: {', '.join(sorted(MUTANTS))}")
    return MUTANTS[name]


def _variant_factory(selection: str, name: str) -> Callable[[], Store]:
    from conformance.stores.mutants.variants import VARIANTS

    if name not in VARIANTS:
        raise _bad(selection, f"no variant named {name!r}; known variants: {', '.join(sorted(VARIANTS))}")
    return VARIANTS[name]


def serve_command(selection: str) -> str:
    """A command line that runs ``selection`` as a stdio protocol program in its own process."""
    if selection.startswith("cmd:"):
        return selection[len("cmd:") :]
    return f"{shlex.quote(sys.executable)} -m conformance.cli.serve --store {shlex.quote(selection)}"


def has_reader(selection: str) -> bool:
    """False for a selection known to declare no ``reader`` (the codex adapter); True for any other."""
    return _parse(selection)[0] != "codex"


def default_reader(writer: str, compressor: str) -> str:
    """The store a campaign's readers use when none is named: the writers' store when it can read,
    else the compressor's, else the reference (a store without a reader would fail every read)."""
    return next((s for s in (writer, compressor) if has_reader(s)), "reference")
