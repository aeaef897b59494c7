"""Exit status of a reference-kernel process (`sis kernel`), as the README documents it."""

from __future__ import annotations

EXIT_OK = 0  # power-off, QMP quit, or a reboot request under -no-reboot
EXIT_STARTUP = 1  # a bad command line, an unusable disk image, a socket in use
EXIT_PANIC = 3  # a kernel panic under -no-reboot
EXIT_SIGNAL_BASE = 128  # ended by signal N: 128 + N
EXIT_INTERRUPTED = 130  # SIGINT before the machine was up
