"""`python -m studio`: the app, as `python app.py` runs it (an installed `savs[app]` has no
app.py; the `savs-studio` command does the same). A bad setting the server reads as it starts
(`SAVS_MAX_MODELS=x`, `SAVS_MODEL_WORKERS=0`) is one line and exit status 2, no traceback."""

from __future__ import annotations

import sys

from savs.errors import SavsError


def run() -> None:
    try:
        from .app import main
    except SavsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    main()


if __name__ == "__main__":
    run()
