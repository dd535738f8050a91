"""The command line: Typer commands; the only layer that prints or exits."""
