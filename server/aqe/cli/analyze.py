"""`aqe analyze` and `aqe rules`: the review, for CI and scripts."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from aqe import __version__
from aqe.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    configure_logging,
    inside,
    load_project_settings,
    project_root,
    write_report,
)


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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
    analyze.set_defaults(run=_analyze)

    rules = commands.add_parser("rules", help="list the review rules")
    rules.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    rules.set_defaults(run=_rules)


def _analyze(args: argparse.Namespace) -> int:
    configure_logging(args.verbose)
    from aqe.app.learning import LearningService
    from aqe.app.review import ReviewService
    from aqe.engine import Engine
    from aqe.findings import Finding
    from aqe.report import exit_code
    from aqe.report.json_report import render_json
    from aqe.report.sarif import line_text_from_files, render_sarif
    from aqe.report.text import render_text

    paths = [p for p in args.paths] or [Path.cwd()]
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(f"aqe analyze: no such file or folder: {', '.join(map(str, missing))}", file=sys.stderr)
        return EXIT_USAGE
    root = project_root(paths)
    loaded = load_project_settings(root)
    roots = [root, *(p.resolve() for p in paths if not inside(p.resolve(), root))]
    engine = Engine(loaded.settings, roots)
    for key in engine.unknown_rule_keys:
        print(f"aqe: settings: 'rules' names an unknown rule {key!r} (see `aqe rules`)", file=sys.stderr)
    learning = LearningService(engine)
    if args.conventions and loaded.settings.conventions_enabled:
        learning.mine_conventions(root)  # the editor mines every folder at start-up; here only when asked
    review = ReviewService(engine, learning)
    error = learning.root_state(root).error
    if error is not None and loaded.settings.learning_enabled:
        print(f"aqe: the learned state could not be read ({error}); nothing is hidden", file=sys.stderr)

    findings = []
    files = 0
    for reviewed in review.review_paths([p.resolve() for p in paths]):
        files += 1
        analysis = reviewed.analysis
        if analysis.skipped is not None:
            print(analysis.skipped.describe(), file=sys.stderr)
            continue
        if analysis.has_syntax_errors:
            shown = Path(analysis.path)
            shown = shown.relative_to(root) if inside(shown, root) else shown
            print(f"aqe: {shown} has syntax errors; only the parts that parse were reviewed", file=sys.stderr)
        findings.extend(reviewed.findings)
    findings.sort(key=Finding.sort_key)

    rules = engine.rule_infos()
    if args.format == "json":
        report = render_json(findings, root, rules=rules, tool_version=__version__)
    elif args.format == "sarif":
        lines = line_text_from_files(root)
        report = render_sarif(findings, root, rules=rules, tool_version=__version__, line_text=lines)
    else:
        color = args.color == "always" or (args.color == "auto" and args.output is None and sys.stdout.isatty())
        report = render_text(findings, root, color=color)
    write_report(report, args.output)
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
