"""The process tree as /proc shows it: one walk shared by the suite kit, the race harness and tests."""

from __future__ import annotations

import os


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, theirs, ...), not ``pid`` itself; Linux /proc only."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                # the command name may hold spaces or parentheses: the fields start after the last ')'
                parent = int(handle.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
