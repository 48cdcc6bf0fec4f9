"""Small readers of ``~/.codex`` the project ships to test ``reader-check`` itself with real processes."""
