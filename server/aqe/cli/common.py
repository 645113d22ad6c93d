"""What every command shares: exit codes, logging, which project a command works on, writing reports."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aqe.config import LoadedSettings

log = logging.getLogger("aqe")

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


def configure_logging(verbosity: int, log_file: Path | None = None, default: int = logging.WARNING) -> None:
    level = default if verbosity == 0 else (logging.INFO if verbosity == 1 else logging.DEBUG)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=handlers)
    logging.getLogger("aqe").setLevel(level)


def project_root(paths: Sequence[Path]) -> Path:
    """The folder whose settings apply and that report paths start from: the project of the first path
    given (of the current folder without paths). The paths themselves only choose what is reported."""
    from aqe.workspace import find_project_root

    return find_project_root(paths[0] if paths else Path.cwd())


def workspace_root(explicit: Path | None, command: str) -> Path | None:
    """An explicit --root, which must be a folder (None after saying so); else the current project."""
    if explicit is None:
        return project_root([])
    if not explicit.is_dir():
        print(f"aqe {command}: not a folder: {explicit}", file=sys.stderr)
        return None
    return explicit.resolve()


def inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


class OutputError(Exception):
    """A report could not be written where it was asked for; the message says why, for a person."""


def write_report(report: str, output: Path | None) -> None:
    """Print the report, or replace `output` with it whole (a reader never sees half a report)."""
    text = report if report.endswith("\n") or not report else report + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    from aqe.durable import atomic_write_bytes

    if not output.name or output.is_dir():
        raise OutputError(f"-o {output}: is a folder; name the report file")
    try:
        atomic_write_bytes(output, text.encode("utf-8"), shared=True)
    except OSError as error:
        raise OutputError(f"cannot write {output}: {error.strerror or error}") from None


def counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def load_project_settings(root: Path, options: Mapping[str, Any] | None = None) -> LoadedSettings:
    """The project's settings, with every problem in them said on stderr (a typo never stops a command);
    `options` are the command line's own (they rank as the user's client settings)."""
    from aqe.config import load_settings

    loaded = load_settings(root, client_options=options)
    for issue in loaded.issues:
        print(f"aqe: settings: {issue.message}", file=sys.stderr)
    return loaded
