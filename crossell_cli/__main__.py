"""`python -m crossell_cli` runs the xsell command line."""

from .cli import main

main()
