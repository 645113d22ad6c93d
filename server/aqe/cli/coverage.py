"""`aqe coverage`: functions not fully covered, from coverage data (or semantic gaps from the index)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aqe import __version__
from aqe.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    load_project_settings,
    project_root,
    write_report,
)


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    coverage = commands.add_parser("coverage", help="functions that are not fully covered, from the coverage data")
    coverage.add_argument("paths", nargs="*", type=Path, help="files or folders to report on (default: all measured)")
    coverage.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    coverage.add_argument("-o", "--output", type=Path, help="write the report here instead of stdout")
    coverage.add_argument(
        "--data", action="append", default=[], metavar="FILE", help="a coverage file to read (default: coveragePaths)"
    )
    coverage.add_argument(
        "--gaps",
        action="store_true",
        help="semantic gaps instead: functions no test appears to exercise (from the index; runs nothing)",
    )
    coverage.set_defaults(run=_coverage)


def _coverage(args: argparse.Namespace) -> int:
    if args.gaps:
        from aqe.cli.index import gaps_command

        return gaps_command(args)
    from aqe.app.coverage import coverage_store
    from aqe.coverage.report import build_report, render_json, render_text
    from aqe.coverage.store import DEFAULT_COVERAGE_FILES, CoverageStore
    from aqe.report.sarif import line_text_from_files, render_sarif
    from aqe.workspace import Workspace

    paths = list(args.paths)
    missing = [p for p in [*paths, *map(Path, args.data)] if not p.exists()]
    if missing:
        print(f"aqe coverage: no such file or folder: {', '.join(map(str, missing))}", file=sys.stderr)
        return EXIT_USAGE
    root = project_root(paths)
    loaded = load_project_settings(root)
    settings = loaded.settings
    if args.data:
        store = CoverageStore([root], extra_files=[Path(d).resolve() for d in args.data], use_default_names=False)
    else:
        store = coverage_store([root], settings)
    report = build_report(root, store, Workspace([root], settings.exclude), [p.resolve() for p in paths])
    for problem in report.problems:
        print(f"aqe coverage: {problem}", file=sys.stderr)
    for notice in report.skipped:
        print(notice, file=sys.stderr)
    if not report.sources:
        looked = ", ".join(settings.coverage_paths or DEFAULT_COVERAGE_FILES)
        print(f"aqe coverage: no coverage data found in {root} (looked for {looked})", file=sys.stderr)
        return EXIT_USAGE
    if args.format == "json":
        output = render_json(report)
    elif args.format == "sarif":
        lines = line_text_from_files(root)
        output = render_sarif(report.findings(), root, rules=(), tool_version=__version__, line_text=lines)
    else:
        output = render_text(report)
    write_report(output, args.output)
    return EXIT_OK
