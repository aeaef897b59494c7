"""Contract section 2: the console's fixed strings."""

from __future__ import annotations

BANNER = "=== SIS Kernel Shell ==="
PROMPT = "sis> "
HELP_HEADER = "Available commands:"
UNKNOWN_COMMAND_STATUS = 127


def unknown_command(name: str) -> str:
    """The line printed for a command that does not exist."""
    return f"Unknown command: {name}"
