"""The project's own tests, one folder per room of the project they test (docs/layout.md).

Being the rootdir conftest, this file puts ``tests/`` on ``sys.path``: every test imports the shared
helpers as ``helpers.*`` and the shipped test doubles (small reader tools, a discovery-only store) as
``doubles.*``.  Nothing else lives here on purpose: fixtures belong to the folder that uses them.
"""
