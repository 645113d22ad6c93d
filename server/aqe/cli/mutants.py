"""`aqe mutants`: the changes to one function that none of the project's tests notice.

    aqe mutants src/shop/pricing.py::vat_cents              # surviving mutants, one per line
    aqe mutants src/shop/pricing.py::Cart.add --format json # every mutant with its outcome

Thin: it names the function, asks the application layer to run its mutants in the sandbox, formats.
Exit code 1 when a mutant survives (a weakness the tests have), 0 when every one is noticed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aqe.cli.common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, configure_logging, inside, workspace_root

if TYPE_CHECKING:
    from aqe.mutation.run import MutationRun


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    mutants = commands.add_parser("mutants", help="the changes to a function that no test notices (mutation testing)")
    mutants.add_argument("target", help="FILE::FUNCTION, or FILE::Class.method")
    mutants.add_argument("--root", type=Path, help="the workspace folder (default: the project of the current folder)")
    mutants.add_argument("--format", choices=("text", "json"), default="text")
    mutants.add_argument("-v", "--verbose", action="count", default=0)
    mutants.set_defaults(run=mutants_command)


def mutants_command(args: argparse.Namespace) -> int:
    from aqe.app.mutation import MutationService
    from aqe.app.project import Project
    from aqe.mutation.mutants import MutationError
    from aqe.mutation.run import MutationRunFailed
    from aqe.sandbox.runner import SandboxRefused

    configure_logging(args.verbose)
    root = workspace_root(args.root, "mutants")
    if root is None:
        return EXIT_USAGE
    file_part, separator, name = args.target.partition("::")
    path = next((p for p in ((root / file_part).resolve(), Path(file_part).resolve()) if p.is_file()), None)
    if not separator or not name or path is None or not inside(path, root):
        print(f"aqe mutants: expected FILE::FUNCTION with FILE inside {root}, got {args.target!r}", file=sys.stderr)
        return EXIT_USAGE
    relative = path.relative_to(root).as_posix()
    service = MutationService(Project.load(root))
    try:
        run = service.run(relative, name)
    except (MutationError, MutationRunFailed, SandboxRefused) as error:
        print(f"aqe mutants: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.format == "json":
        print(json.dumps(_json(relative, run), indent=2))
    else:
        print(_text(relative, run))
    return EXIT_FINDINGS if run.survivors else EXIT_OK


def _text(path: str, run: MutationRun) -> str:
    name = run.function.qualified_name
    head = (
        f"{path}::{name}: {run.killed} of {run.total} mutants killed by {len(run.tests)} tests "
        f"that call it; {len(run.survivors)} survive ({run.duration_s:.1f} s)"
    )
    lines = [head]
    for outcome in run.survivors:
        mutant = outcome.mutant
        lines.append(f"  {path}:{mutant.line}:{mutant.column + 1}: changing {mutant.description} here breaks no test")
    not_judged = [outcome for outcome in run.outcomes if outcome.status in ("error", "not run")]
    if not_judged:
        lines.append(f"  {len(not_judged)} mutants could not be judged (first: {not_judged[0].detail})")
    return "\n".join(lines)


def _json(path: str, run: MutationRun) -> dict[str, Any]:
    return {
        "target": {"path": path, "name": run.function.qualified_name},
        "killed": run.killed,
        "total": run.total,
        "tests": list(run.tests),
        "failingTests": list(run.failing_tests),
        "seconds": round(run.duration_s, 2),
        "mutants": [
            {
                "id": outcome.mutant.id,
                "line": outcome.mutant.line,
                "column": outcome.mutant.column,
                "endLine": outcome.mutant.end_line,
                "endColumn": outcome.mutant.end_column,
                "original": outcome.mutant.original,
                "replacement": outcome.mutant.replacement,
                "description": outcome.mutant.description,
                "status": outcome.status,
                "killedBy": list(outcome.killed_by),
                "detail": outcome.detail,
            }
            for outcome in run.outcomes
        ],
    }
