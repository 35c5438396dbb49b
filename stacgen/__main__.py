"""`python -m stacgen` is the `stacgen` command."""

from stacgen.cli import main

main()
