"""`python -m studio`: the app, as `python app.py` runs it (an installed `savs[app]` has no
app.py; the `savs-studio` command does the same)."""

from .app import main

if __name__ == "__main__":
    main()
