"""`python -m sis.cli ...` is the `sis` command."""

from sis.cli import main

main()
