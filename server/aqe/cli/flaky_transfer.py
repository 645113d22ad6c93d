"""`aqe flaky export` and `aqe flaky import`: move a test history between the workspace's SQLite file and a
team's PostgreSQL database (or back), through a JSON Lines file a person can read.

Both use the configured history (`flakyHistoryUrl`) unless `--local` asks for the workspace's own
file, so moving a laptop's history to the team's database is

    aqe flaky export --local -o history.jsonl && aqe flaky import history.jsonl
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from aqe.cli.common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from aqe.flaky.history import HistoryStore

_LOCAL_HELP = "use the workspace's own history file even when flakyHistoryUrl points at a database"


def add_transfer_parsers(flaky_commands: argparse._SubParsersAction) -> tuple[argparse.ArgumentParser, ...]:
    export = flaky_commands.add_parser("export", help="write the whole history as JSON Lines (to move it)")
    export.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    export.add_argument("--local", action="store_true", help=_LOCAL_HELP)
    imported = flaky_commands.add_parser(
        "import", help="add the reports of an `aqe flaky export` file to the history (known ones are skipped)"
    )
    imported.add_argument("file", type=Path, help="the export file ('-' reads stdin)")
    imported.add_argument("--local", action="store_true", help=_LOCAL_HELP)
    return export, imported


def export_command(args: argparse.Namespace, history: HistoryStore) -> int:
    from aqe.durable import atomic_write_with
    from aqe.flaky.transfer import export_history

    if args.output is None:
        count = export_history(history, sys.stdout)
    else:
        if not args.output.name or args.output.is_dir():
            print(f"aqe flaky export: -o {args.output}: is a folder; name the export file", file=sys.stderr)
            return EXIT_USAGE
        counted: list[int] = []

        def write(path: Path) -> None:
            with path.open("w", encoding="utf-8") as handle:
                counted.append(export_history(history, handle))

        try:
            atomic_write_with(args.output, write, shared=True)
        except OSError as error:
            print(f"aqe flaky export: cannot write {args.output}: {error.strerror or error}", file=sys.stderr)
            return EXIT_FINDINGS
        count = counted[0]
    print(f"aqe flaky export: {count} report{'' if count == 1 else 's'} from {history.location}", file=sys.stderr)
    return EXIT_OK


def import_command(args: argparse.Namespace, history: HistoryStore) -> int:
    from aqe.flaky.transfer import TransferError, import_history

    try:
        if str(args.file) == "-":
            summary = import_history(history, sys.stdin)
        else:
            with args.file.open(encoding="utf-8") as handle:
                summary = import_history(history, handle)
    except OSError as error:
        print(f"aqe flaky import: cannot read {args.file}: {error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    except (TransferError, UnicodeDecodeError) as error:
        print(f"aqe flaky import: {args.file}: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(
        f"aqe flaky import: {summary.added} reports added ({summary.results} results), "
        f"{summary.already_known} already in {history.location}",
        file=sys.stderr,
    )
    return EXIT_OK
