"""`python -m pvcontracts` is `pv`."""

from pvcontracts.cli import main

main()
