"""The command line: one module per command group, each registering its parsers with
`set_defaults(run=...)`; the commands translate arguments, call the application layer or a feature,
and format. Heavy imports stay inside the commands, so `aqe --version` and `aqe analyze` start fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from aqe import __version__
from aqe.cli import analyze, coverage, flaky, generate, index, learning, model, mutants, privacy, serve
from aqe.cli.analyze import render_rules_markdown
from aqe.cli.common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, OutputError

__all__ = ["EXIT_FINDINGS", "EXIT_OK", "EXIT_USAGE", "build_parser", "main", "render_rules_markdown"]

_GROUPS = (serve, analyze, model, privacy, index, generate, mutants, coverage, flaky, learning)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aqe", description="Local-first quality engineering for your code.")
    parser.add_argument("--version", action="version", version=f"aqe {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in _GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "run", None)
    if run is None:  # no command, or a group without its subcommand (`aqe model`)
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(run(args))
    except OutputError as error:
        print(f"aqe: {error}", file=sys.stderr)
        return EXIT_USAGE
