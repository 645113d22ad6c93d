"""The command line. Each sub-command parses its arguments, calls the engine once and formats."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from aqe import __version__

if TYPE_CHECKING:
    from aqe.app.flaky import FlakyService
    from aqe.config import LoadedSettings, Settings
    from aqe.flaky.analysis import TestVerdict
    from aqe.flaky.history import HistoryStore

log = logging.getLogger("aqe")

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aqe", description="Local-first quality engineering for your code.")
    parser.add_argument("--version", action="version", version=f"aqe {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the language server (stdio by default)")
    serve.add_argument("--stdio", action="store_true", help="talk LSP over stdin/stdout (the default)")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on a TCP socket instead of stdio")
    serve.add_argument("--log-file", type=Path, help="also write logs to this file")
    serve.add_argument("-v", "--verbose", action="count", default=0, help="more logs (-v info, -vv debug)")

    analyze = commands.add_parser("analyze", help="review files and report findings (for CI and scripts)")
    analyze.add_argument("paths", nargs="*", type=Path, help="files or folders (default: the current folder)")
    analyze.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    analyze.add_argument("-o", "--output", type=Path, help="write the report here instead of stdout")
    analyze.add_argument(
        "--fail-on",
        choices=("error", "warning", "info", "hint", "never"),
        default="error",
        help="exit 1 when a finding is at least this severe (default: error)",
    )
    analyze.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    analyze.add_argument(
        "--conventions", action="store_true", help="also report places that break the team's strong conventions"
    )
    analyze.add_argument("-v", "--verbose", action="count", default=0)

    model = commands.add_parser("model", help="the local model")
    model_commands = model.add_subparsers(dest="model_command", metavar="SUBCOMMAND")
    info = model_commands.add_parser("info", help="which model, where, build flags, and a test decode")
    info.add_argument("--format", choices=("text", "json"), default="text")

    ask = commands.add_parser("ask", help="ask the model once, through the privacy router (a quick manual check)")
    ask.add_argument("prompt", help="the prompt; a base model continues it, an instruct model answers it")
    ask.add_argument("--format", choices=("text", "json"), default="text")
    ask.add_argument("--max-tokens", type=int, default=128, metavar="N", help="most tokens to generate (default 128)")
    ask.add_argument(
        "--tag", action="append", default=[], metavar="TAG", help="a task tag for the routing rules (repeatable)"
    )

    privacy = commands.add_parser("privacy", help="privacy mode and the audit log")
    privacy_commands = privacy.add_subparsers(dest="privacy_command", metavar="SUBCOMMAND")
    audit = privacy_commands.add_parser("audit", help="the mode, recent routing decisions and blocked connections")
    audit.add_argument("--format", choices=("text", "json"), default="text")
    audit.add_argument("--limit", type=int, default=20, metavar="N", help="show the last N of each (default 20)")

    index = commands.add_parser("index", help="build or update the workspace index (code units and QE knowledge)")
    index.add_argument(
        "path", nargs="?", type=Path, help="the workspace folder (default: the project of the current folder)"
    )
    index.add_argument("--rebuild", action="store_true", help="discard the stored index and build it again")
    index.add_argument("--format", choices=("text", "json"), default="text")
    index.add_argument("-v", "--verbose", action="count", default=0)

    search = commands.add_parser("search", help="search the workspace index and the QE knowledge base")
    search.add_argument("query", help="code or words to look for")
    search.add_argument("-k", type=int, default=10, metavar="N", help="how many results (default 10)")
    search.add_argument(
        "--category", metavar="C", help="only this category: code/tests, code/source, aqe/failure-patterns, ..."
    )
    search.add_argument("--root", type=Path, help="the workspace folder (default: the project of the current folder)")
    search.add_argument("--refresh", action="store_true", help="bring the index up to date with the files first")
    search.add_argument("--format", choices=("text", "json"), default="text")
    search.add_argument("-v", "--verbose", action="count", default=0)

    from aqe.cli_generate import add_parser as add_generate_parser

    add_generate_parser(commands)

    rules = commands.add_parser("rules", help="list the review rules")
    rules.add_argument("--format", choices=("text", "json", "markdown"), default="text")

    _add_coverage_parser(commands)
    _add_flaky_parser(commands)
    from aqe.cli_learning import add_parsers as add_learning_parsers

    add_learning_parsers(commands)
    return parser


def _add_flaky_parser(commands: argparse._SubParsersAction) -> None:
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
    from aqe.cli_flaky import add_transfer_parsers

    for subcommand in (run, report, ingest, *add_transfer_parsers(flaky_commands)):  # `aqe flaky report --root X`
        subcommand.add_argument("--root", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _add_coverage_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """`aqe coverage`: its own function so later flags (semantic gaps from the index) sit beside these."""
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
    return coverage


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _run(argv)
    except OutputError as error:
        print(f"aqe: {error}", file=sys.stderr)
        return EXIT_USAGE


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "analyze":
        return _analyze(args)
    if args.command == "rules":
        return _rules(args)
    if args.command == "generate":
        from aqe.cli_generate import generate_command

        return generate_command(args)
    if args.command == "index":
        from aqe.cli_index import index_command

        return index_command(args)
    if args.command == "search":
        from aqe.cli_index import search_command

        return search_command(args)
    if args.command == "model" and args.model_command == "info":
        return _model_info(args)
    if args.command == "ask":
        return _ask(args)
    if args.command == "privacy" and args.privacy_command == "audit":
        return _privacy_audit(args)
    if args.command == "coverage":
        return _coverage(args)
    if args.command == "flaky":
        return _flaky(args)
    if args.command == "state":
        from aqe.cli_learning import state_command

        return state_command(args)
    if args.command == "conventions":
        from aqe.cli_learning import conventions_command

        return conventions_command(args)
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _configure_logging(verbosity: int, log_file: Path | None = None, default: int = logging.WARNING) -> None:
    level = default if verbosity == 0 else (logging.INFO if verbosity == 1 else logging.DEBUG)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=handlers)
    logging.getLogger("aqe").setLevel(level)


def _serve(args: argparse.Namespace) -> int:
    # stdout carries the protocol: everything else goes to stderr or the log file.
    _configure_logging(args.verbose, args.log_file, default=logging.WARNING)
    from aqe.lsp.server import create_server
    from aqe.lsp.transport.protocol import serve_stdio, serve_tcp

    server = create_server()
    code = EXIT_OK
    try:
        if args.tcp:
            host, _, port = args.tcp.rpartition(":")
            if not port.isdigit() or not 0 < int(port) < 65536:
                print(f"aqe serve: --tcp expects HOST:PORT (port 1-65535), got {args.tcp!r}", file=sys.stderr)
                return EXIT_USAGE
            serve_tcp(server, host or "127.0.0.1", int(port))
        else:
            serve_stdio(server)
    except SystemExit as exit_request:
        code = exit_request.code if isinstance(exit_request.code, int) else EXIT_OK
    _exit_even_if_a_worker_thread_hangs(code)
    return code


def _exit_even_if_a_worker_thread_hangs(code: int, grace_seconds: float = 3.0) -> None:
    """Python waits for thread-pool workers at exit, so one hung handler would keep a server that the
    editor asked to exit alive forever (and never restarted). Give them a grace period, then go."""
    import threading

    timer = threading.Timer(grace_seconds, lambda: (logging.shutdown(), os._exit(code)))
    timer.daemon = True
    timer.start()


def _analyze(args: argparse.Namespace) -> int:
    _configure_logging(args.verbose)
    from aqe.config import load_settings
    from aqe.engine import Engine
    from aqe.report import exit_code
    from aqe.report.json_report import render_json
    from aqe.report.sarif import line_text_from_files, render_sarif
    from aqe.report.text import render_text

    paths = [p for p in args.paths] or [Path.cwd()]
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(f"aqe analyze: no such file or folder: {', '.join(map(str, missing))}", file=sys.stderr)
        return EXIT_USAGE
    root = _project_root(paths)
    loaded = load_settings(root)
    for issue in loaded.issues:
        print(f"aqe: settings: {issue.message}", file=sys.stderr)
    roots = [root, *(p.resolve() for p in paths if not _inside(p.resolve(), root))]
    engine = Engine(loaded.settings, roots)
    for key in engine.unknown_rule_keys:
        print(f"aqe: settings: 'rules' names an unknown rule {key!r} (see `aqe rules`)", file=sys.stderr)

    findings = []
    files = 0
    analysed: set[str] = set()
    for analysis in engine.analyze_paths([p.resolve() for p in paths]):
        files += 1
        analysed.add(analysis.path)
        if analysis.skipped is not None:
            print(analysis.skipped.describe(), file=sys.stderr)
            continue
        if analysis.has_syntax_errors:
            shown = Path(analysis.path)
            shown = shown.relative_to(root) if _inside(shown, root) else shown
            print(f"aqe: {shown} has syntax errors; only the parts that parse were reviewed", file=sys.stderr)
        findings.extend(analysis.findings)
    from aqe.cli_learning import apply_team_standards

    findings = apply_team_standards(
        root, loaded.settings, findings, conventions_in=analysed if args.conventions else None
    )

    rules = engine.rule_infos()
    if args.format == "json":
        report = render_json(findings, root, rules=rules, tool_version=__version__)
    elif args.format == "sarif":
        lines = line_text_from_files(root)
        report = render_sarif(findings, root, rules=rules, tool_version=__version__, line_text=lines)
    else:
        color = args.color == "always" or (args.color == "auto" and args.output is None and sys.stdout.isatty())
        report = render_text(findings, root, color=color)
    _write(report, args.output)
    if args.format != "text":
        with_findings = len({finding.path for finding in findings})
        print(f"aqe: {len(findings)} findings in {with_findings} of {files} files read", file=sys.stderr)
    return exit_code(findings, args.fail_on)


def _rules(args: argparse.Namespace) -> int:
    from aqe.engine import Engine

    infos = Engine.rule_infos()
    if args.format == "json":
        rows = [
            {
                "id": r.id,
                "name": r.name,
                "severity": r.default_severity.value,
                "languages": sorted(lang.value for lang in r.languages),
                "summary": r.summary,
                "rationale": r.rationale,
                "fix": r.has_fix,
            }
            for r in infos
        ]
        print(json.dumps(rows, indent=2))
    elif args.format == "markdown":
        print(render_rules_markdown(), end="")
    else:
        for r in infos:
            print(f"{r.id}  {r.name:<28} {r.default_severity.value:<8} {r.summary}")
    return EXIT_OK


def _model_info(args: argparse.Namespace) -> int:
    from aqe.llm.default_model import ModelUnavailableError, default_model
    from aqe.llm.smoke import smoke_decode

    info: dict[str, object] = {}
    try:
        import llama_cpp

        info["llamaCppPython"] = llama_cpp.__version__
        info["buildFlags"] = llama_cpp.llama_print_system_info().decode(errors="replace").strip()
    except ImportError:
        info["llamaCppPython"] = None
    from aqe.config import load_settings

    settings = load_settings(_project_root([])).settings
    info["privacyMode"] = settings.privacy_mode
    if settings.local_server_url:
        info["teamServer"] = settings.local_server_url
    if settings.model_path:
        path = Path(settings.model_path).expanduser()
        if not path.is_file():
            print(f"aqe: modelPath {path} is not a file", file=sys.stderr)
            return EXIT_FINDINGS
        info.update(model=path.name, path=str(path), sizeBytes=path.stat().st_size, source="modelPath setting")
    else:
        try:
            model = default_model()
        except ModelUnavailableError as error:
            print(f"aqe: {error}", file=sys.stderr)
            return EXIT_FINDINGS
        info.update(model=model.path.name, path=str(model.path), sizeBytes=model.size, sha256=model.sha256)
        info["source"] = "embedded default (verified)"
        path = model.path
    smoke = smoke_decode(path)
    info.update(smokeDecode=smoke.detail, loadSeconds=round(smoke.load_seconds, 3))
    if args.format == "json":
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key:>16}: {value}")
    return EXIT_OK if smoke.ok else EXIT_FINDINGS


def _ask(args: argparse.Namespace) -> int:
    from aqe.config import load_settings
    from aqe.llm.factory import build_router
    from aqe.llm.router import RoutingHints
    from aqe.llm.types import CompletionOptions, Prompt, ProviderError

    if args.max_tokens < 1:
        print("aqe ask: --max-tokens must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    root = _project_root([])
    loaded = load_settings(root)
    for issue in loaded.issues:
        print(f"aqe: settings: {issue.message}", file=sys.stderr)
    router = build_router(loaded.settings, root)
    try:
        completion = router.complete(
            Prompt(text=args.prompt),
            CompletionOptions(max_tokens=args.max_tokens),
            hints=RoutingHints(tags=tuple(args.tag)),
        )
    except ProviderError as error:
        print(f"aqe ask: {error}", file=sys.stderr)
        return EXIT_FINDINGS
    finally:
        router.close()
    if args.format == "json":
        answer = {
            "text": completion.text,
            "confidence": round(completion.confidence, 4),
            "model": completion.model,
            "provider": completion.provider,
            "route": completion.route,
            "latencyS": round(completion.latency_s, 4),
            "promptTokens": completion.prompt_tokens,
            "completionTokens": completion.completion_tokens,
            "finishReason": completion.finish_reason.value,
            "requestId": completion.request_id,
        }
        print(json.dumps(answer, indent=2, ensure_ascii=False))
    else:
        print(completion.text)
        print(
            f"aqe: {completion.model} via {completion.route}, confidence {completion.confidence:.2f}, "
            f"{completion.latency_s:.2f} s",
            file=sys.stderr,
        )
    return EXIT_OK


def _sandbox_line(support, settings: Settings) -> str:  # type: ignore[no-untyped-def]
    if support.contained:
        return f"{support.detail}; project code is contained"
    accepted = "runs anyway (sandboxAllowUncontained)" if settings.sandbox_allow_uncontained else "runs nothing"
    return f"NOT CONTAINED: {support.detail}; project code {accepted}"


def _privacy_audit(args: argparse.Namespace) -> int:
    from aqe.config import load_settings
    from aqe.llm.factory import API_KEY_VARIABLE, audit_log_path
    from aqe.llm.router import describe_rules
    from aqe.privacy.audit import blocked_of, decisions_of, read_audit, totals
    from aqe.privacy.report import audit_report

    if args.limit < 0:
        print("aqe privacy audit: --limit must not be negative", file=sys.stderr)
        return EXIT_USAGE
    root = _project_root([])
    loaded = load_settings(root)
    for issue in loaded.issues:
        print(f"aqe: settings: {issue.message}", file=sys.stderr)
    settings = loaded.settings
    if args.format == "json":
        print(json.dumps(audit_report(settings, root, args.limit), indent=2, ensure_ascii=False))
        return EXIT_OK
    path = audit_log_path(settings, root)
    read = read_audit(path)
    decisions, blocked = decisions_of(read.entries), blocked_of(read.entries)
    shown_decisions = decisions[len(decisions) - args.limit :] if args.limit else []
    shown_blocked = blocked[len(blocked) - args.limit :] if args.limit else []
    summary = totals(read.entries)
    cloud_key = "set" if os.environ.get(API_KEY_VARIABLE, "").strip() else "not set"
    from aqe.sandbox.engines import isolation_support

    print(f"privacy mode: {settings.privacy_mode}")
    print(f"sandbox:      {_sandbox_line(isolation_support(), settings)}")
    print(f"audit log:    {path}" + ("" if path.exists() else " (no entries yet)"))
    if settings.privacy_mode != "strict":
        print(f"cloud:        {API_KEY_VARIABLE} {cloud_key}; asked below confidence {settings.fallback_threshold}")
        print("complex when: " + "; ".join(describe_rules()))
    print(
        f"totals:       {summary.decisions} requests, {summary.sent_off_machine} sent off the machine "
        f"({summary.bytes_sent} bytes), {summary.redactions} secrets redacted, "
        f"{summary.blocked} connections blocked, {summary.failed} failed"
    )
    if read.damaged_lines:
        print(f"note:         {read.damaged_lines} damaged line(s) skipped")
    print(f"\nrecent decisions ({len(shown_decisions)} of {len(decisions)}):")
    for entry in shown_decisions:
        redacted = sum(entry.redactions.values())
        extra = (f", {redacted} redacted" if redacted else "") + (f", {entry.outcome}" if entry.outcome != "ok" else "")
        print(
            f"  {entry.time}  {entry.request_id}  {entry.route:<30} {entry.provider}/{entry.model}  "
            f"{entry.bytes_sent} B sent{extra} - {entry.reason}"
        )
    print(f"\nblocked connection attempts ({len(shown_blocked)} of {len(blocked)}):")
    for entry in shown_blocked:
        where = f"{entry.host}:{entry.port}" if entry.port is not None else entry.host
        caller = entry.stack[-1] if entry.stack else "unknown caller"
        print(f"  {entry.time}  {where:<28} {entry.event}  pid {entry.pid}  from {caller}")
    return EXIT_OK


def _coverage(args: argparse.Namespace) -> int:
    if args.gaps:
        from aqe.cli_index import gaps_command

        return gaps_command(args)
    from aqe.app.coverage import coverage_store
    from aqe.config import load_settings
    from aqe.coverage.report import build_report, render_json, render_text
    from aqe.coverage.store import DEFAULT_COVERAGE_FILES, CoverageStore
    from aqe.report.sarif import line_text_from_files, render_sarif
    from aqe.workspace import Workspace

    paths = list(args.paths)
    missing = [p for p in [*paths, *map(Path, args.data)] if not p.exists()]
    if missing:
        print(f"aqe coverage: no such file or folder: {', '.join(map(str, missing))}", file=sys.stderr)
        return EXIT_USAGE
    root = _project_root(paths)
    loaded = load_settings(root)
    for issue in loaded.issues:
        print(f"aqe: settings: {issue.message}", file=sys.stderr)
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
    _write(output, args.output)
    return EXIT_OK


def _flaky(args: argparse.Namespace) -> int:
    from aqe.app.flaky import open_project_history
    from aqe.app.project import Project
    from aqe.config import load_settings
    from aqe.flaky.history import HistoryError

    if args.flaky_command is None:
        sys.stderr.write(args.flaky_help())
        return EXIT_USAGE
    root = workspace_root(args.root, "flaky")
    if root is None:
        return EXIT_USAGE
    loaded = load_settings(root)
    for issue in loaded.issues:
        print(f"aqe: settings: {issue.message}", file=sys.stderr)
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
        from aqe.cli_flaky import export_command, import_command

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
        f"aqe flaky: {_counted(len(summary.runs), 'run')} done{without}, "
        f"{_counted(len(summary.suspects), 'test')} failed at least once; see `aqe flaky report`",
        file=sys.stderr,
    )
    return EXIT_FINDINGS if problems and len(problems) == len(summary.runs) else EXIT_OK


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


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
        state = "already in the history" if known else f"{_counted(count, 'result')} added"
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
    _write(output, args.output)
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


def render_rules_markdown() -> str:
    """docs/rules.md: generated from the rules themselves (a test keeps the file in step)."""
    from aqe.engine import Engine

    lines = [
        "# Review rules",
        "",
        "Generated by `aqe rules --format markdown`. Severities can be changed or rules turned off with the",
        '`rules` setting (`rules = { QE205 = "off" }` under `[tool.aqe]`), and one line silenced with',
        "`# aqe: ignore[QE101]` (`// aqe: ignore[QE301]` in JavaScript/TypeScript).",
        "",
        "| id | name | default | languages | fix | summary |",
        "|---|---|---|---|---|---|",
    ]
    infos = Engine.rule_infos()
    for r in infos:
        languages = ", ".join(sorted(lang.value for lang in r.languages))
        lines.append(
            f"| [{r.id}](#{r.id.lower()}) | `{r.name}` | {r.default_severity.value} | {languages} | "
            f"{'yes' if r.has_fix else ''} | {r.summary} |"
        )
    for r in infos:
        lines += ["", f"## {r.id}", "", f"`{r.name}` — {r.summary}", "", r.rationale]
    from aqe.review.docs import rules_markdown_appendix

    lines += rules_markdown_appendix()
    return "\n".join(lines) + "\n"


def _project_root(paths: Sequence[Path]) -> Path:
    """The folder whose settings apply and that report paths start from: the project of the first path
    given (of the current folder without paths). The paths themselves only choose what is reported."""
    from aqe.workspace import find_project_root

    return find_project_root(paths[0] if paths else Path.cwd())


def workspace_root(explicit: Path | None, command: str) -> Path | None:
    """An explicit --root, which must be a folder (None after saying so); else the current project."""
    if explicit is None:
        return _project_root([])
    if not explicit.is_dir():
        print(f"aqe {command}: not a folder: {explicit}", file=sys.stderr)
        return None
    return explicit.resolve()


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


class OutputError(Exception):
    """A report could not be written where it was asked for; the message says why, for a person."""


def _write(report: str, output: Path | None) -> None:
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
