"""`python -m sis ...` is the `sis` command."""

from sis.cli import main

main()
