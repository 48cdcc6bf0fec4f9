"""Check every store selection a command names before any work: it opens and answers its handshake.

Contract: :func:`check_store` returns the store's :class:`~conformance.store_api.Hello` or raises
:class:`~conformance.selection.SelectionError` with one line saying what is wrong and how to fix it;
:func:`selections_in` finds the selections in parsed arguments (``--store``, ``--ROLE-store``).
"""

from __future__ import annotations

import argparse

from conformance.stores.selection import SelectionError, open_store
from conformance.api.store import Hello


def check_store(selection: str) -> Hello:
    """Open ``selection``, ask its handshake, close it; any failure is one SelectionError line."""
    try:
        store = open_store(selection)
    except SelectionError:
        raise
    except Exception as exc:  # noqa: BLE001 - any way a selection cannot open is a usage error
        raise SelectionError(f"cannot open store {selection!r}: {_one_line(exc)}") from None
    try:
        return store.hello()
    except Exception as exc:  # noqa: BLE001 - a failing handshake means no test can be trusted
        raise SelectionError(f"store {selection!r} failed its handshake: {_one_line(exc)}") from None
    finally:
        try:
            store.close()
        except Exception:  # noqa: BLE001 - closing a store that already broke tells nothing more
            pass


def _one_line(exc: Exception) -> str:
    """The exception's reason and the last line the program wrote on stderr, if any, on one line."""
    lines = str(exc).splitlines()
    reason = getattr(exc, "reason", None) or (lines[0] if lines else type(exc).__name__)
    tail = [line for line in (getattr(exc, "stderr_tail", "") or "").splitlines() if line.strip()]
    return f"{reason} (its last stderr line: {tail[-1].strip()})" if tail else reason


def selections_in(args: argparse.Namespace) -> list[str]:
    """Every store selection in ``args``: ``store`` and any ``*_store`` attribute, lists included."""
    found: list[str] = []
    for name, value in sorted(vars(args).items()):
        if name != "store" and not name.endswith("_store"):
            continue
        for selection in value if isinstance(value, list) else [value]:
            if isinstance(selection, str) and selection and selection not in found:
                found.append(selection)
    return found
