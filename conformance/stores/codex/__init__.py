"""The real Codex CLI (``codex app-server``) as a store under test: install, launch, adapter."""
