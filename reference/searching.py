"""Search the rollouts of a listing for a needle: hits in listing order, every unreadable one reported.

A big listing is split in two halves searched at once, the second by a forked child, so a search uses
both cores of a small machine; hits, notes and errors come back exactly as one process gives them.
"""

from __future__ import annotations

import os
import pickle
import signal
import traceback

from reference import reading
from reference.discovery import noted_unreadable, unreadable
from conformance.api.errors import NotFoundError, StoreError, error_for_kind

#: From this many rollouts a search forks.  Smaller homes (those of the suite and the CLI tests) stay in one
#: process: the fork saves only milliseconds there (2,000 tiny rollouts: 34 ms single, 26 ms forked).
FORK_FROM = 4000


def search(root: str, rels: list[str], needle: bytes, fork_from: int = FORK_FROM) -> list[tuple[str, int]]:
    """``(logical path, line number)`` of every line holding ``needle``, in the order of ``rels``.

    ``root``: the home's folder with a trailing separator.  A rollout that cannot be read goes to
    :func:`unreadable` (ERR-012), in the order a single process meets it, whether or not it forks.
    """
    if len(rels) < fork_from or not hasattr(os, "fork"):
        return _search(root, rels, needle)
    half = len(rels) // 2
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's coverage is not collected; its answer is tested
        # Drop every inherited descriptor but the pipe: a flock the parent releases by closing its fd
        # must not live on in the child's copy of the same open file (another process would see busy).
        os.closerange(3, writer)
        os.closerange(writer + 1, os.sysconf("SC_OPEN_MAX"))
        _answer_and_exit(writer, root, rels[half:], needle)
    os.close(writer)
    try:
        hits = _search(root, rels[:half], needle)  # an error here is the first in listing order: raised
        with os.fdopen(reader, "rb") as pipe:
            reader = None
            answer = pipe.read()
    except BaseException:
        os.kill(pid, signal.SIGKILL)  # its half is of no use once this one failed
        raise
    finally:
        if reader is not None:
            os.close(reader)
        _pid, wait_status = os.waitpid(pid, 0)
    if not answer:
        raise RuntimeError(f"the search child ended without an answer (wait status {wait_status}); "
                           "search again, and report a bug if it recurs")
    status, payload = pickle.loads(answer)
    if status == "error":
        raise error_for_kind(*payload)
    if status == "crash":
        raise RuntimeError(f"the search child failed:\n{payload}")
    child_hits, notes = payload
    if notes:  # only when collecting: otherwise the child raised its first error instead
        noted_unreadable().extend(notes)
    return hits + child_hits


def _answer_and_exit(writer: int, root: str, rels: list[str], needle: bytes) -> None:
    """In the child: search ``rels``, send the hits and notes (or the error) to the parent, exit."""
    code = 0
    try:
        noted = noted_unreadable()  # the parent's notes so far, copied by the fork
        before = len(noted) if noted is not None else 0
        try:
            answer = ("ok", (_search(root, rels, needle), noted[before:] if noted is not None else []))
        except StoreError as exc:
            answer = ("error", (exc.kind, exc.message, exc.path))
        except BaseException:
            answer = ("crash", traceback.format_exc())
        with os.fdopen(writer, "wb") as pipe:
            pickle.dump(answer, pipe, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:
        code = 1  # the parent is gone (broken pipe): nobody to answer
    finally:
        os._exit(code)  # never return into the parent's code, never run its exit handlers


def _search(root: str, rels: list[str], needle: bytes) -> list[tuple[str, int]]:
    hits: list[tuple[str, int]] = []
    for rel in rels:
        try:
            opened = reading.open_representation(root + rel, rel)
        except NotFoundError:
            continue  # deleted since the listing
        except StoreError as exc:
            unreadable(exc)  # ERR-012: a rollout not searched is never a silent "no hit"
            continue
        try:
            found_here = reading.matching_lines_in(opened, needle)
        except StoreError as exc:
            unreadable(exc)
            continue
        finally:
            os.close(opened.fd)
        if found_here:
            hits.extend((rel, number) for number in found_here)
    return hits
