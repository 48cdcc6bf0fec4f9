"""The failpoint channel's contract (PROTOCOL.md, "Failpoints"): its environment, its answers, and the named points.

A store that declares the ``failpoints`` capability reads :data:`SOCKET_ENV`; when it is set, at each
named point it sends one JSON line ``{"point": NAME, "pid": PID, "path": LOGICAL_PATH_OR_NULL}`` to
that Unix socket and blocks until one JSON line answers with ``action`` :data:`CONTINUE`,
:data:`CRASH` (SIGKILL itself on the spot) or :data:`ERROR` (fail the step with the given ``errno``).
:data:`FILTER_ENV` may restrict which points are reported.  :data:`POINTS` is the catalogue the
race harness schedules by name, in the order an operation reaches them; a store declares the
subset it reports in its handshake.
"""

SOCKET_ENV = "ROLLOUT_FAILPOINT_SOCKET"
FILTER_ENV = "ROLLOUT_FAILPOINTS"

CONTINUE, CRASH, ERROR = "continue", "crash", "error"

#: Every named failpoint, in the order an operation reaches them (the reference reports them all).
POINTS = (
    "create.before_open",
    "append.after_open",
    "append.after_lock",
    "append.before_write",
    "append.after_write",
    "materialize.after_lock",
    "materialize.after_decode",
    "materialize.before_link",
    "materialize.after_link",
    "materialize.before_unlink",
    "materialize.after_unlink",
    "compress.after_open",
    "compress.after_encode",
    "compress.after_verify",
    "compress.before_lock",
    "compress.after_lock",
    "compress.before_publish",
    "compress.after_publish",
    "compress.before_unlink",
    "compress.after_unlink",
    "archive.before_rename",
    "delete.before_unlink",
    "worker.after_claim",
    "cleanup.before_unlink",
)
