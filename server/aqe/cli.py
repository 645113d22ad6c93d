"""The command line. Each sub-command parses its arguments, calls the engine once and formats."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from aqe import __version__

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

    rules = commands.add_parser("rules", help="list the review rules")
    rules.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "analyze":
        return _analyze(args)
    if args.command == "rules":
        return _rules(args)
    if args.command == "model" and args.model_command == "info":
        return _model_info(args)
    if args.command == "ask":
        return _ask(args)
    if args.command == "privacy" and args.privacy_command == "audit":
        return _privacy_audit(args)
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
    from aqe.lsp.protocol import serve_stdio, serve_tcp
    from aqe.lsp.server import create_server

    server = create_server()
    code = EXIT_OK
    try:
        if args.tcp:
            host, _, port = args.tcp.rpartition(":")
            if not port.isdigit():
                print(f"aqe serve: --tcp expects HOST:PORT, got {args.tcp!r}", file=sys.stderr)
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
    for analysis in engine.analyze_paths([p.resolve() for p in paths]):
        files += 1
        if analysis.skipped is not None:
            print(analysis.skipped.describe(), file=sys.stderr)
            continue
        findings.extend(analysis.findings)

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
        print(f"aqe: {len(findings)} findings in {files} files", file=sys.stderr)
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

    settings = load_settings(Path.cwd().resolve()).settings
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
    root = Path.cwd().resolve()
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


def _privacy_audit(args: argparse.Namespace) -> int:
    from aqe.config import load_settings
    from aqe.llm.factory import API_KEY_VARIABLE, audit_log_path
    from aqe.llm.router import describe_rules
    from aqe.privacy.audit import blocked_of, decisions_of, read_audit, totals
    from aqe.privacy.report import audit_report

    if args.limit < 0:
        print("aqe privacy audit: --limit must not be negative", file=sys.stderr)
        return EXIT_USAGE
    root = Path.cwd().resolve()
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
    print(f"privacy mode: {settings.privacy_mode}")
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
    return "\n".join(lines) + "\n"


def _project_root(paths: list[Path]) -> Path:
    """The folder whose settings apply: the one folder given, else the current folder."""
    if len(paths) == 1 and paths[0].is_dir():
        return paths[0].resolve()
    return Path.cwd().resolve()


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _write(report: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(report if report.endswith("\n") or not report else report + "\n")
        return
    tmp = output.with_name(f".{output.name}.tmp{os.getpid()}")
    tmp.write_text(report if report.endswith("\n") else report + "\n", encoding="utf-8")
    os.replace(tmp, output)
