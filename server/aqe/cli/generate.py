"""`aqe generate`: proven tests from the command line, for one function or for the coverage gaps.

    aqe generate src/shop/pricing.py::vat_cents            # show the proven test and what it adds
    aqe generate src/shop/pricing.py::Cart.add --diff      # as a unified diff against the test file
    aqe generate src/shop/pricing.py::vat_cents --write    # append it to the test file
    aqe generate --coverage-gaps --max 5 --diff            # the functions coverage data says are not covered

Thin: it finds the target, builds the generator the language server uses, and formats the result.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aqe.cli.common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, configure_logging, load_project_settings, workspace_root

if TYPE_CHECKING:  # the command's own imports are inside it: `aqe --version` must not pay for them
    from aqe.config import LoadedSettings
    from aqe.llm.types import CancelToken, Completion, CompletionOptions, Prompt
    from aqe.testgen.generate import GenerationResult
    from aqe.testgen.target import TestTarget


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    generate = commands.add_parser("generate", help="generate a test proven to pass and to add coverage")
    generate.add_argument("target", nargs="?", help="FILE::FUNCTION, or FILE::Class.method")
    generate.add_argument(
        "--coverage-gaps", action="store_true", help="the functions the coverage data says lack tests"
    )
    generate.add_argument("--max", type=int, default=5, metavar="N", help="with --coverage-gaps: at most N functions")
    output = generate.add_mutually_exclusive_group()
    output.add_argument("--write", action="store_true", help="append the proven tests to their test files")
    output.add_argument("--diff", action="store_true", help="print unified diffs of the test files")
    generate.add_argument("--no-model", action="store_true", help="use only the generator that needs no model")
    generate.add_argument("--root", type=Path, help="the workspace folder (default: the project of the current folder)")
    generate.add_argument(
        "--python",
        metavar="PATH",
        help="the interpreter that runs the project's tests (default: projectPython, the project's .venv, "
        "$VIRTUAL_ENV, else aqe's own)",
    )
    generate.add_argument("--format", choices=("text", "json"), default="text")
    generate.add_argument("-v", "--verbose", action="count", default=0)
    generate.set_defaults(run=generate_command)


def generate_command(args: argparse.Namespace) -> int:
    from aqe.app.indexing import Freshness, ProjectIndex
    from aqe.app.project import Project
    from aqe.app.testgen import TestGenerationService
    from aqe.testgen.target import TargetError

    configure_logging(args.verbose)
    root = workspace_root(args.root, "generate")
    if root is None:
        return EXIT_USAGE
    if bool(args.target) == bool(args.coverage_gaps):
        print("aqe generate: give FILE::FUNCTION or --coverage-gaps (one of them)", file=sys.stderr)
        return EXIT_USAGE
    if args.max < 1:
        print("aqe generate: --max must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    loaded = load_project_settings(root, {"projectPython": str(Path(args.python).absolute())} if args.python else None)
    try:
        targets = _gap_targets(root, loaded, args.max) if args.coverage_gaps else [_named_target(root, args.target)]
    except (TargetError, OSError, ValueError) as error:
        print(f"aqe generate: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not targets:
        print("aqe generate: no function with a coverage gap was found", file=sys.stderr)
        return EXIT_OK
    complete, close = (None, None) if args.no_model else _model(loaded, root)
    project = Project(root, loaded)
    index = ProjectIndex(project, Freshness.REFRESHED)  # opened only if the model asks for patterns
    service = TestGenerationService(project, complete, index.similar_tests)
    results: list[GenerationResult] = []
    try:
        for target, text in targets:
            print(f"aqe: generating a test for {target.path}::{target.qualified_name}", file=sys.stderr)
            progress = (lambda message: print(f"aqe:   {message}", file=sys.stderr)) if args.verbose else None
            results.append(service.generate(target, text, progress=progress))
    finally:
        index.close()
        if close is not None:
            close()
    written = _write_tests(root, results) if args.write else []
    for result in results:
        if result.target.qualified_name in written:
            service.record_outcome(result, "apply", "cli")  # learning sees tests accepted here too
    if args.format == "json":
        print(json.dumps([_json(result) for result in results], indent=2))
    else:
        for result in results:
            print(_text(root, result, diff=args.diff, written=result.target.qualified_name in written))
    proven = [result for result in results if result.proven]
    if not proven or (args.write and len(written) < len(proven)):
        return EXIT_FINDINGS
    return EXIT_OK


def _named_target(root: Path, spec: str) -> tuple[TestTarget, str]:
    from aqe.parsing.languages import Language, language_for_path
    from aqe.testgen.target import find_target_by_name

    """FILE is taken from the workspace root (as --root users write it), else from the current folder."""
    file_part, separator, name = spec.partition("::")
    if not separator or not name or not file_part:
        raise ValueError(f"expected FILE::FUNCTION, got {spec!r}")
    candidates = [(root / file_part).resolve(), Path(file_part).resolve()]
    path = next((candidate for candidate in candidates if candidate.is_file()), None)
    if path is None:
        raise ValueError(f"no such file: {file_part}")
    if root not in path.parents:
        raise ValueError(f"{file_part} is outside {root}")
    if language_for_path(path) is not Language.PYTHON:
        raise ValueError(f"{file_part}: tests are generated for Python files only")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{file_part} is not UTF-8 text") from None
    except OSError as error:
        raise ValueError(f"{file_part} cannot be read ({error.strerror or error})") from None
    return find_target_by_name(root, path.relative_to(root).as_posix(), text, name), text


def _gap_targets(root: Path, loaded: LoadedSettings, limit: int) -> list[tuple[TestTarget, str]]:
    from aqe.app.project import Project
    from aqe.testgen.target import TargetError, find_target_by_name

    """Functions with uncovered lines or branches, from the project's coverage data (measured once in
    the sandbox when there is none), least covered first."""
    from aqe.app.coverage import CoverageService
    from aqe.coverage.measure import CoverageRunError
    from aqe.coverage.report import build_report
    from aqe.workspace import Workspace

    coverage = CoverageService(Project(root, loaded))
    workspace = Workspace([root], loaded.settings.exclude)
    report = build_report(root, coverage.store(), workspace)
    if not report.sources:
        print("aqe: no coverage data; running the test suite once with coverage (in the sandbox)", file=sys.stderr)
        try:
            coverage.measure_suite()
        except CoverageRunError as error:
            raise ValueError(f"the suite could not be measured: {error}") from error
        report = build_report(root, coverage.store(), workspace)
    gaps = sorted(report.gaps(), key=lambda item: item[1].percent)
    targets: list[tuple[TestTarget, str]] = []
    for hints, function in gaps:
        path = Path(hints.path)
        relative = path.resolve().relative_to(root).as_posix() if root in path.resolve().parents else None
        if relative is None or path.suffix != ".py":
            continue
        text = path.read_text(encoding="utf-8")
        try:
            targets.append((find_target_by_name(root, relative, text, function.qualified_name), text))
        except TargetError:
            continue
        if len(targets) >= limit:
            break
    return targets


def _model(loaded: LoadedSettings, root: Path) -> tuple[Any, Any]:
    """The router (local model, privacy rules) as the generator's blocking `complete`."""
    from aqe.llm.factory import build_router
    from aqe.llm.router import RoutingHints

    router = build_router(loaded.settings, root)

    def complete(prompt: Prompt, options: CompletionOptions, cancel: CancelToken) -> Completion:
        return router.complete(prompt, options, cancel=cancel, hints=RoutingHints(tags=("testgen",)))

    return complete, router.close


def _write_tests(root: Path, results: list[GenerationResult]) -> list[str]:
    from aqe.durable import atomic_write_bytes

    """Append each proven test to its file: from the file as it is now (never overwriting a test)."""
    from aqe.testgen.placement import Destination, build_edit

    written: list[str] = []
    for result in results:
        if result.proven is None:
            continue
        path = root / result.proven.edit.path
        existing = path.read_text(encoding="utf-8") if path.exists() else None
        destination = Destination(result.proven.edit.path, existing, frozenset())
        edit = build_edit(destination, [result.proven.candidate])
        try:
            atomic_write_bytes(path, edit.new_text.encode("utf-8"), shared=True)
        except OSError as error:
            print(f"aqe generate: cannot write {path}: {error.strerror or error}", file=sys.stderr)
            continue
        written.append(result.target.qualified_name)
    return written


def _text(root: Path, result: GenerationResult, *, diff: bool, written: bool) -> str:
    target = f"{result.target.path}::{result.target.qualified_name}"
    if result.proven is None:
        return f"{target}: no test: {result.reason} ({result.seconds:.1f} s; tests ran with {result.python})"
    proven = result.proven
    gained = proven.arcs_after - proven.arcs_before
    if not result.network_isolated:
        target += " [the sandbox could not cut off the network on this machine]"
    head = (
        f"{target}: {', '.join(proven.candidate.test_names)} ({proven.candidate.generator}) passed {proven.runs} runs "
        f"and reaches {gained} branch arcs the module's tests do not, lines {_ranges(proven.lines_gained)}; "
        + (f"{kills}; " if (kills := _kills(result)) else "")
        + f"{result.seconds:.1f} s"
    )
    if written:
        return f"{head}\n  written to {proven.edit.path}"
    if diff:
        path = root / proven.edit.path
        before = path.read_text(encoding="utf-8").splitlines(keepends=True) if path.exists() else []
        after = proven.edit.new_text.splitlines(keepends=True)
        name = proven.edit.path
        lines = difflib.unified_diff(before, after, f"a/{name}" if before else "/dev/null", f"b/{name}")
        return head + "\n" + "".join(lines)
    return f"{head}\n--- {proven.edit.path}\n{proven.candidate.body}"


def _kills(result: GenerationResult) -> str:
    from aqe.testgen.strength import kills_summary

    return kills_summary(result.proven, result.target.name)


def _ranges(lines: tuple[int, ...]) -> str:
    if not lines:
        return "none new"
    spans, start, previous = [], lines[0], lines[0]
    for line in lines[1:]:
        if line != previous + 1:
            spans.append(f"{start}-{previous}" if start != previous else str(start))
            start = line
        previous = line
    spans.append(f"{start}-{previous}" if start != previous else str(start))
    return ", ".join(spans)


def _json(result: GenerationResult) -> dict[str, Any]:
    proven = result.proven
    return {
        "target": {"path": result.target.path, "name": result.target.qualified_name},
        "proven": proven is not None,
        "reason": result.reason,
        "seconds": round(result.seconds, 2),
        "networkIsolated": result.network_isolated,
        "python": result.python,
        "conventions": result.conventions,
        "test": None
        if proven is None
        else {
            "names": list(proven.candidate.test_names),
            "generator": proven.candidate.generator,
            "file": proven.edit.path,
            "createsFile": proven.edit.create,
            "code": proven.candidate.body,
            "imports": list(proven.candidate.imports),
            "runs": proven.runs,
            "arcsBefore": proven.arcs_before,
            "arcsAfter": proven.arcs_after,
            "linesGained": list(proven.lines_gained),
            "repaired": proven.repaired,
            "labels": list(proven.candidate.labels),
            "mutantsKilled": proven.mutants_killed,
            "mutantsTotal": proven.mutants_total,
            "mutantsKilledBefore": proven.mutants_killed_before,
        },
        "candidates": [
            {
                "name": c.name,
                "generator": c.generator,
                "passedRuns": c.passed_runs,
                "arcsGained": c.arcs_gained,
                "lines": c.lines,
                "repaired": c.repaired,
                "note": c.note,
                "code": c.code,
            }
            for c in result.candidates
        ],
        "timings": {key: round(value, 2) for key, value in result.timings.items()},
    }
