"""Command line: python -m savs {fit, eval, predict, compare, export-space, models}.

User errors (bad data, unknown model, wrong classifier) print one line on stderr and exit with
code 2; progress bars go to stderr; --json prints one JSON object on stdout. The arguments are
`savs.cli.parser`'s, the commands `savs.cli.commands`', what is printed `savs.cli.output`'s.
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import warnings
from collections.abc import Sequence
from contextlib import redirect_stdout
from pathlib import Path

from . import distributed
from .cli.commands import cmd_compare, cmd_eval, cmd_export_space, cmd_fit, cmd_predict
from .cli.output import print_human, printable, progress_bar
from .cli.parser import build_parser
from .errors import SavsError

EXIT_USER_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "models":
        from .models.registry import BUNDLED, HUB_SUGGESTIONS

        for spec in BUNDLED.values():
            print(f"{spec.name:10} {spec.description}")
        print("hub (internet + GPU): " + ", ".join(HUB_SUGGESTIONS))
        return 0
    commands = {"fit": cmd_fit, "eval": cmd_eval, "predict": cmd_predict, "compare": cmd_compare}
    commands["export-space"] = cmd_export_space
    # library warnings (duplicate examples ...) read like errors: one line, no source location
    library_format, warnings.formatwarning = (
        warnings.formatwarning,
        lambda message, *_args, **_kw: f"warning: {printable(str(message), keep='')}\n",
    )
    try:
        # .zip datasets are extracted here, and removed when the command ends
        with tempfile.TemporaryDirectory(prefix="savs-cli-") as workdir:
            args.workdir = Path(workdir)
            result = commands[args.command](args)
    except SavsError as exc:
        print(f"error: {printable(str(exc), keep='')}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = library_format
    if not distributed.is_main_process():
        return 0  # under accelerate launch, only the main process reports
    if args.json:
        print(json.dumps(result))
    else:
        human = io.StringIO()
        with redirect_stdout(human):
            print_human(args.command, result)
        sys.stdout.write(printable(human.getvalue()))  # labels may hold escape codes
    return 0


__all__ = ["main", "build_parser", "printable", "progress_bar", "EXIT_USER_ERROR"]

if __name__ == "__main__":
    sys.exit(main())
