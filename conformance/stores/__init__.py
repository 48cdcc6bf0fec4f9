"""Store selection: every way to name a store under test (reference, py:, cmd:, mutant:, codex:) and its preflight."""
