"""The contract a store author codes against, and the lowest layer of the project: it imports nothing else of it.

``from conformance.api import Store, Hello, NotFoundError, ...`` is all a ``py:`` store needs; SPEC.md
and PROTOCOL.md name only what this package defines: the interface and its result types
(:mod:`.store`), every error kind (:mod:`.errors`), the exit codes (:mod:`.exit_codes`), the protocol
version, capabilities, profiles and coordination schemes (:mod:`.store`) and the requirement ids of
SPEC.md (:mod:`.requirements`).
"""

from conformance.api.errors import (
    ERROR_KINDS,
    AlreadyExistsError,
    BadRequestError,
    BusyError,
    ConflictError,
    CorruptError,
    Inconclusive,
    InvalidHomeError,
    InvalidNameError,
    IoError,
    NotARolloutError,
    NotFoundError,
    OutsideHomeError,
    ReadOnlyError,
    StoreError,
    UnsupportedError,
    error_for_kind,
    from_os_error,
)
from conformance.api.store import (
    CAPABILITIES,
    COORDINATION_SCHEMES,
    OUTCOMES,
    PROFILES,
    PROTOCOL_VERSION,
    SCOPES,
    UUID_PATTERN,
    CleanupReport,
    Hello,
    ReadResult,
    RolloutEntry,
    SearchHit,
    Store,
    UndeclaredCapabilityError,
    WorkerReport,
    effective_capabilities,
)

__all__ = [
    "AlreadyExistsError",
    "BadRequestError",
    "BusyError",
    "CAPABILITIES",
    "COORDINATION_SCHEMES",
    "CleanupReport",
    "ConflictError",
    "CorruptError",
    "ERROR_KINDS",
    "Hello",
    "Inconclusive",
    "InvalidHomeError",
    "InvalidNameError",
    "IoError",
    "NotARolloutError",
    "NotFoundError",
    "OUTCOMES",
    "OutsideHomeError",
    "PROFILES",
    "PROTOCOL_VERSION",
    "ReadOnlyError",
    "ReadResult",
    "RolloutEntry",
    "SCOPES",
    "SearchHit",
    "Store",
    "StoreError",
    "UUID_PATTERN",
    "UndeclaredCapabilityError",
    "UnsupportedError",
    "WorkerReport",
    "effective_capabilities",
    "error_for_kind",
    "from_os_error",
]
