"""Contract section 2: the console's fixed strings."""

from __future__ import annotations

BANNER = "=== SIS Kernel Shell ==="
PROMPT = "sis> "
HELP_HEADER = "Available commands:"
UNKNOWN_COMMAND_STATUS = 127


def unknown_command(name: str) -> str:
    """The line printed for a command that does not exist."""
    return f"Unknown command: {name}"


# -- exit-status markers (docs/guest-contract.md) ----------------------------------------------
# The lab runs every command between two lines its guest shell prints: a begin marker, printed
# before the command runs, and a status marker with the command's `$?`, printed after it. Both
# carry a nonce the lab draws afresh for each command, so output printed ahead of time (a
# background job, a hostile program) cannot pass for the status of a command not yet typed,
# and only a status marker after its own begin marker counts. The echo commands split the
# marker with quotes, so the echo of a typed line never contains the marker itself.

#: Hex digits of a marker's nonce (64 random bits).
MARKER_NONCE_HEX = 16


def begin_marker(nonce: str) -> str:
    """The line a guest prints before running the command: `__SIS_<nonce>_begin`."""
    return f"__SIS_{nonce}_begin"


def status_marker(nonce: str, status: int) -> str:
    """The line a guest prints after it: `__SIS_<nonce>_<status>`."""
    return f"__SIS_{nonce}_{status}"


def begin_marker_command(nonce: str) -> str:
    """What the lab types so that the shell prints the begin marker."""
    return f'echo "__SIS""_{nonce}_begin"'


def status_marker_command(nonce: str) -> str:
    """What the lab types so that the shell prints the status marker."""
    return f'echo "__SIS""_{nonce}_$?"'
