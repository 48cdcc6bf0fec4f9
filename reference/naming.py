"""Rollout file names: parse them, normalise `.zst` paths to logical ones, recognise temps."""

from __future__ import annotations

import re
from dataclasses import dataclass

from conformance.api.errors import InvalidNameError
from conformance.api.store import UUID_PATTERN

PREFIX = "rollout-"
SUFFIX = ".jsonl"
ZST_SUFFIX = ".zst"
TEMP_SUFFIX = ".tmp"
ACTIVE_DIR = "sessions"
ARCHIVED_DIR = "archived_sessions"

_UUID_TEXT = re.compile(UUID_PATTERN)
_TIMESTAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2})-(\d{2})-(\d{2})")
_ROLLOUT_NAME = re.compile(
    re.escape(PREFIX) + f"(?P<timestamp>{_TIMESTAMP.pattern})-(?P<id>{_UUID_TEXT.pattern})" + re.escape(SUFFIX)
)


@dataclass(frozen=True)
class RolloutName:
    """The parts of a logical rollout file name ``rollout-<timestamp>-<uuid>.jsonl``."""

    timestamp: str
    id: str

    @property
    def file_name(self) -> str:
        return f"{PREFIX}{self.timestamp}-{self.id}{SUFFIX}"

    @property
    def date_dirs(self) -> tuple[str, str, str]:
        """``(YYYY, MM, DD)`` from the timestamp, or ``("", "", "")`` when it is not a date."""
        match = _TIMESTAMP.fullmatch(self.timestamp)
        return match.groups()[:3] if match else ("", "", "")


def is_temp(file_name: str) -> bool:
    """Temps are never rollouts, whatever they contain."""
    return file_name.endswith(TEMP_SUFFIX)


def logical_name(file_name: str) -> str:
    """``X.jsonl.zst`` -> ``X.jsonl``; other names unchanged (the file need not exist)."""
    return file_name[: -len(ZST_SUFFIX)] if file_name.endswith(SUFFIX + ZST_SUFFIX) else file_name


def parse_name(file_name: str) -> RolloutName:
    """Parse a rollout file name (plain or `.zst`); raise InvalidNameError otherwise."""
    # One regex for the whole name: listing a home parses every file name in it.
    match = _ROLLOUT_NAME.fullmatch(logical_name(file_name))
    if match is None:
        raise InvalidNameError(_why_not_a_rollout(file_name))
    return RolloutName(timestamp=match["timestamp"], id=match["id"].lower())


def rollout_id(logical: str) -> str | None:
    """The lowercased id of a logical rollout file name, None when it is not one (no exception, no object)."""
    match = _ROLLOUT_NAME.fullmatch(logical)
    return None if match is None else match["id"].lower()


def _why_not_a_rollout(file_name: str) -> str:
    """What is wrong with a name :data:`_ROLLOUT_NAME` refused."""
    name = logical_name(file_name)
    if is_temp(file_name) or not (name.startswith(PREFIX) and name.endswith(SUFFIX)):
        return f"not a rollout file name: {file_name!r}"
    stem = name[len(PREFIX) : -len(SUFFIX)]
    # The uuid is the part after the last '-' that parses as a UUID: a canonical UUID has four
    # hyphens of its own, so it is the last 36 characters, preceded by the timestamp and a '-'.
    if len(stem) < 38 or stem[-37] != "-" or not is_uuid(stem[-36:]):
        return f"rollout file name has no UUID: {file_name!r}"
    return f"rollout file name has no YYYY-MM-DDThh-mm-ss timestamp: {file_name!r}"


def is_uuid(text: str) -> bool:
    """Canonical hyphenated UUID text, any case (32 hex digits in 8-4-4-4-12: always a valid UUID)."""
    return _UUID_TEXT.fullmatch(text) is not None


def require_uuid(text: str) -> str:
    if not isinstance(text, str) or not is_uuid(text):
        raise InvalidNameError(f"not a UUID: {text!r}")
    return text.lower()


def is_rollout_file(file_name: str) -> bool:
    try:
        parse_name(file_name)
    except InvalidNameError:
        return False
    return True
