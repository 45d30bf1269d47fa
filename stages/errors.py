"""Mistakes a person can fix, and the stage entry point that prints them as one line."""

import logging
import sys
from collections.abc import Callable


class UserError(Exception):
    """Bad params, data or input: reported as one line, without a traceback."""


def run(main: Callable[[], None]) -> None:
    """Run a stage's main(): a UserError exits 1 with one line on stderr; bugs still raise."""
    logging.basicConfig(format="%(name)s: %(message)s", level=logging.INFO, stream=sys.stderr)
    # a library's own notes (matplotlib's first-run font cache) are not the stage's progress
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    try:
        main()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
