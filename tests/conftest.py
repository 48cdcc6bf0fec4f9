"""The project's own tests, one folder per room of the project they test (docs/layout.md).

Being the rootdir conftest, this file puts ``tests/`` on ``sys.path`` (pytest does) and on the
``PYTHONPATH`` of every process the tests start (this file does): tests import the shared helpers as
``helpers.*``, and a store double is selected as ``py:doubles.stores:<factory>`` even by a campaign's
actors and by ``rollout-conformance`` run in a subprocess.
"""

from __future__ import annotations

import os
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [_TESTS, os.environ.get("PYTHONPATH", "")]))
