"""`python -m pspread` runs the command line."""

from pspread.cli.entry import main

main()
