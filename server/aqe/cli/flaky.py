"""`aqe flaky run | ingest | report | export | import`: flaky tests from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from aqe import __version__
from aqe.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_USAGE,
    counted,
    load_project_settings,
    workspace_root,
    write_report,
)

if TYPE_CHECKING:
    from aqe.app.flaky import FlakyService
    from aqe.config import LoadedSettings
    from aqe.flaky.analysis import TestVerdict
    from aqe.flaky.history import HistoryStore


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    flaky = commands.add_parser("flaky", help="flaky tests: rerun them, ingest JUnit reports, report verdicts")
    flaky.add_argument(
        "--root", type=Path, default=None, help="the project folder (default: the project of the current folder)"
    )
    flaky.set_defaults(flaky_help=flaky.format_help)
    flaky_commands = flaky.add_subparsers(dest="flaky_command", metavar="SUBCOMMAND")
    run = flaky_commands.add_parser(
        "run", help="run every test N times in the sandbox (in order, shuffled), then the ones that failed alone"
    )
    run.add_argument("tests", nargs="*", help="pytest paths or node ids (default: the project's whole suite)")
    run.add_argument(
        "-n",
        "--runs",
        type=int,
        default=None,
        metavar="N",
        help="runs of the tests, half in order and half shuffled; each test that fails in any of them then runs "
        "N/5 more times alone (at least once). Default: flakyReruns",
    )
    report = flaky_commands.add_parser("report", help="the verdicts from the history")
    report.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    report.add_argument("-o", "--output", type=Path, help="write the report here instead of stdout")
    report.add_argument("--all", action="store_true", help="list stable tests too")
    report.add_argument("--explain", action="store_true", help="ask the model to explain each flaky test")
    report.add_argument(
        "--fail-on", choices=("never", "flaky"), default="never", help="exit 1 when a test is flaky (default: never)"
    )
    ingest = flaky_commands.add_parser("ingest", help="add JUnit XML reports to the history")
    ingest.add_argument("reports", nargs="*", type=Path, help="report files (default: the junitPaths setting)")
    ingest.add_argument("--code-version", help="the commit the reports were produced on (default: the checkout's)")
    from aqe.cli.flaky_transfer import add_transfer_parsers

    for subcommand in (run, report, ingest, *add_transfer_parsers(flaky_commands)):  # `aqe flaky report --root X`
        subcommand.add_argument("--root", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    flaky.set_defaults(run=_flaky)


def _flaky(args: argparse.Namespace) -> int:
    from aqe.app.flaky import open_project_history
    from aqe.app.project import Project
    from aqe.flaky.history import HistoryError

    if args.flaky_command is None:
        sys.stderr.write(args.flaky_help())
        return EXIT_USAGE
    root = workspace_root(args.root, "flaky")
    if root is None:
        return EXIT_USAGE
    loaded = load_project_settings(root)
    project = Project(root, loaded)
    try:
        with open_project_history(project, local=getattr(args, "local", False)) as history:
            return _flaky_command(args, root, loaded, history)
    except HistoryError as error:
        print(f"aqe flaky: {error}", file=sys.stderr)
        return EXIT_FINDINGS


def _flaky_command(args: argparse.Namespace, root: Path, loaded: LoadedSettings, history: HistoryStore) -> int:
    from aqe.app.flaky import FlakyService
    from aqe.app.indexing import Freshness, ProjectIndex
    from aqe.app.project import Project

    project = Project(root, loaded)
    with ProjectIndex(project, Freshness.KNOWLEDGE) as patterns:  # opened only for flaky verdicts
        return _flaky_subcommand(args, FlakyService(project, history, patterns.similar_failures))


def _flaky_subcommand(args: argparse.Namespace, service: FlakyService) -> int:
    if args.flaky_command == "run":
        return _flaky_run(args, service)
    if args.flaky_command == "ingest":
        return _flaky_ingest(args, service)
    if args.flaky_command in ("export", "import"):
        from aqe.cli.flaky_transfer import export_command, import_command

        return (export_command if args.flaky_command == "export" else import_command)(args, service.history)
    return _flaky_report(args, service)


def _flaky_run(args: argparse.Namespace, service: FlakyService) -> int:
    from aqe.flaky.runs import TestsNotRunnable
    from aqe.sandbox.runner import SandboxRefused

    runs = args.runs if args.runs is not None else service.project.settings.flaky_reruns
    if runs < 2:
        print("aqe flaky run: -n must be at least 2", file=sys.stderr)
        return EXIT_USAGE
    runner = service.runner(progress=lambda message: print(f"aqe flaky: {message}", file=sys.stderr))
    try:
        summary = runner.run(args.tests, runs)
    except SandboxRefused as error:
        print(f"aqe flaky run: {error}", file=sys.stderr)
        return EXIT_USAGE
    except TestsNotRunnable as error:
        print(f"aqe flaky run: {error}", file=sys.stderr)
        return EXIT_USAGE if error.usage else EXIT_FINDINGS
    notes = {note for record in summary.runs for note in record.sandbox.notes}
    for note in sorted(notes):
        print(f"aqe flaky: sandbox: {note}", file=sys.stderr)
    problems = [record for record in summary.runs if record.problem and not (record.passed or record.failed)]
    without = f" ({len(problems)} without results)" if problems else ""
    print(
        f"aqe flaky: {counted(len(summary.runs), 'run')} done{without}, "
        f"{counted(len(summary.suspects), 'test')} failed at least once; see `aqe flaky report`",
        file=sys.stderr,
    )
    return EXIT_FINDINGS if problems and len(problems) == len(summary.runs) else EXIT_OK


def _flaky_ingest(args: argparse.Namespace, service: FlakyService) -> int:
    missing = [path for path in args.reports if not path.exists()]
    if missing:
        print(f"aqe flaky ingest: no such file: {', '.join(map(str, missing))}", file=sys.stderr)
        return EXIT_USAGE
    folders = [path for path in args.reports if path.is_dir()]
    if folders:
        names = ", ".join(map(str, folders))
        print(f"aqe flaky ingest: a folder, not a JUnit report: {names} (name the report files in it)", file=sys.stderr)
        return EXIT_USAGE
    paths = list(args.reports) or service.configured_reports()
    if not paths:
        print("aqe flaky ingest: no reports given and none match the junitPaths setting", file=sys.stderr)
        return EXIT_USAGE
    added, problems = service.ingest(paths, args.code_version)
    for problem in problems:
        print(f"aqe flaky ingest: {problem}", file=sys.stderr)
    for path, count, known in added:
        state = "already in the history" if known else f"{counted(count, 'result')} added"
        print(f"{path}: {state}")
    return EXIT_OK if added else EXIT_FINDINGS


def _flaky_report(args: argparse.Namespace, service: FlakyService) -> int:
    from aqe.flaky.analysis import flaky_findings
    from aqe.flaky.report import render_json, render_text
    from aqe.flaky.scoring import Verdict
    from aqe.report.sarif import line_text_from_files, render_sarif

    root = service.project.root
    _, problems = service.ingest(service.configured_reports())
    for problem in problems:
        print(f"aqe flaky: {problem}", file=sys.stderr)
    verdicts = service.verdicts()
    if not verdicts:
        print("aqe flaky report: no test history yet; run `aqe flaky run` or `aqe flaky ingest`", file=sys.stderr)
        return EXIT_USAGE
    explanations = _explain_flaky(verdicts, service) if args.explain else None
    if args.format == "json":
        output = render_json(verdicts, root, explanations)
    elif args.format == "sarif":
        lines = line_text_from_files(root)
        output = render_sarif(flaky_findings(verdicts, root), root, rules=(), tool_version=__version__, line_text=lines)
    else:
        output = render_text(verdicts, show_all=args.all, explanations=explanations)
    write_report(output, args.output)
    flaky = any(v.verdict is Verdict.FLAKY for v in verdicts)
    return EXIT_FINDINGS if args.fail_on == "flaky" and flaky else EXIT_OK


def _explain_flaky(verdicts: list[TestVerdict], service: FlakyService) -> dict[str, str]:
    from aqe.flaky.explain import OPTIONS, tidy_answer
    from aqe.flaky.scoring import Verdict
    from aqe.llm.factory import build_router
    from aqe.llm.types import ProviderError

    router = build_router(service.project.settings, service.project.root)
    answers: dict[str, str] = {}
    try:
        for verdict in verdicts:
            if verdict.verdict is not Verdict.FLAKY:
                continue
            try:
                completion = router.complete(service.explanation_prompt(verdict), OPTIONS)
            except ProviderError as error:
                print(f"aqe flaky report: the model could not explain {verdict.test_id}: {error}", file=sys.stderr)
                break
            answers[verdict.test_id] = tidy_answer(completion.text)
    finally:
        router.close()
    return answers
