"""`python -m pspread` runs the command line."""

from pspread.cli.app import main

main()
