"""The command line's parts (`python -m savs` runs `savs.__main__.main`): parser.py (the
arguments), commands.py (what each command does), output.py (what it prints)."""
