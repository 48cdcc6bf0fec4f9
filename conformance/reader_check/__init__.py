"""``reader-check``: does a tool that reads ``~/.codex`` still see a session once it is compressed?

A black-box before/after check: a realistic home with a ground-truth manifest
(``conformance.oracle.homegen``), the tool run on it, then on copies of it turned into each hard case
(``cases``), and what disappeared or changed reported as findings grouped by root cause.
"""
