"""Declares every reference failpoint in its hello, but never reports one on the failpoint channel."""

import os

os.environ.pop("ROLLOUT_FAILPOINT_SOCKET", None)  # before the reference reads it at import

from _misbehave import serve  # noqa: E402


serve(lambda op, request, count: None)
