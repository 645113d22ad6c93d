"""`python -m aqe` and the `aqe` console script."""

from __future__ import annotations

import os
import sys

from aqe.cli import main as _main

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as for any command whose reader (head, less) went away


def main() -> None:
    try:
        code = _main()
        sys.stdout.flush()
    except KeyboardInterrupt:
        print("aqe: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        # Nobody reads the rest; point stdout at /dev/null so Python's own flush at exit stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_BROKEN_PIPE
    sys.exit(code)


if __name__ == "__main__":
    main()
