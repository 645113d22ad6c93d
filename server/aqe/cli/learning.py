"""`aqe state ...` and `aqe conventions`: thin calls into aqe.learning and aqe.review.conventions.

`aqe state export` writes the versioned, readable learned state (stdout by default), `import` adds
another team's, `merge A B` combines two teams' states without any code (counts add, examples are
union-ed unless `--no-examples`, conflicts are reported), `show` and `reset` mirror the editor's
commands. `aqe conventions` prints what the workspace shows of the team's conventions.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from aqe.cli.common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, load_project_settings, workspace_root, write_report
from aqe.config import Settings

STATE_COMMANDS = ("export", "import", "merge", "show", "reset")


def register(commands: argparse._SubParsersAction) -> None:
    state = commands.add_parser("state", help="the learned state: export, import, merge (across teams), show, reset")
    state.add_argument(
        "--root", type=Path, default=None, help="the project folder (default: the project of the current folder)"
    )
    sub = state.add_subparsers(dest="state_command", metavar="SUBCOMMAND")
    export = sub.add_parser("export", help="write the learned state as versioned JSON (stdout by default)")
    export.add_argument("-o", "--output", type=Path, help="write it here instead of stdout")
    export.add_argument("--no-examples", action="store_true", help="counts only: leave out every code example")
    imported = sub.add_parser("import", help="add another team's exported (or merged) state to this project's")
    imported.add_argument("file", type=Path)
    merge = sub.add_parser("merge", help="combine two states: counts add, examples union, conflicts reported")
    merge.add_argument("first", type=Path)
    merge.add_argument("second", type=Path)
    merge.add_argument("-o", "--output", type=Path, help="write the merged state here instead of stdout")
    merge.add_argument("--no-examples", action="store_true", help="leave out the examples of both")
    show = sub.add_parser("show", help="what was learned: each rule and convention, its counts and verdict")
    show.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    reset = sub.add_parser("reset", help="forget what was learned about one rule or convention")
    reset.add_argument("subject", help="a rule id (QE205), `convention/<id>` or `model/<category>`")
    for subcommand in (export, imported, merge, show, reset):  # `aqe state show --root X` works too
        subcommand.add_argument("--root", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    state.set_defaults(run=state_command)

    conventions = commands.add_parser("conventions", help="the team's conventions as the workspace shows them")
    conventions.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=None,
        help="the project folder (default: the project of the current folder)",
    )
    conventions.add_argument("--format", choices=("text", "json"), default="text")
    conventions.set_defaults(run=conventions_command)


def _settings(root: Path) -> Settings:
    loaded = load_project_settings(root)
    return loaded.settings


def state_command(args: argparse.Namespace) -> int:
    from aqe.app.learning import LearningService
    from aqe.engine import Engine
    from aqe.learning.state import StateFile, StateFileError, export_json, merge_states

    root = workspace_root(args.root, "state")
    if root is None:
        return EXIT_USAGE
    settings = _settings(root)
    learning = LearningService(Engine(settings, [root]))
    strength, threshold = settings.ewc_lambda, settings.quality_threshold
    try:
        if args.state_command == "export":
            write_report(learning.export_text(root, examples=not args.no_examples), args.output)
            return EXIT_OK
        if args.state_command == "import":
            outcome = learning.import_from(root, args.file)
            names = ", ".join(outcome.taken) or "no other team"
            print(f"aqe: imported {outcome.subjects} subjects from {names}", file=sys.stderr)
            if outcome.skipped_own:
                print("aqe: the file's counts from this project itself were skipped", file=sys.stderr)
            return EXIT_OK
        if args.state_command == "merge":
            first, second = StateFile.read(args.first), StateFile.read(args.second)
            merged = merge_states(first, second, examples=not args.no_examples)
            write_report(export_json(merged, prior_strength=strength, threshold=threshold), args.output)
            for conflict in merged.conflicts:
                subject = f"{conflict.subject}: " if conflict.subject else ""
                print(f"aqe: conflict: {subject}{conflict.detail}", file=sys.stderr)
            return EXIT_OK
        if args.state_command == "show":
            error = learning.root_state(root).error
            if error is not None:
                raise StateFileError(error)
            rows = learning.subjects(root)
            if args.format == "markdown":
                from aqe.app.learning_report import learned_markdown

                print(learned_markdown(learning.learned()), end="")
            elif args.format == "json":
                print(json.dumps({"qualityThreshold": threshold, "ewcLambda": strength, "subjects": rows}, indent=2))
            else:
                for row in rows:
                    verdict = "shown" if row["shown"] else "hidden"
                    print(f"{row['subject']:<36} {row['accepted']:>5g} accepted {row['rejected']:>5g} rejected  "
                          f"acceptance {row['estimatedAcceptance']:.2f}  {verdict}")  # fmt: skip
                if not rows:
                    print("aqe: nothing learned yet", file=sys.stderr)
            return EXIT_OK
        if args.state_command == "reset":
            subject = learning.reset(args.subject, [root], action="cli")
            print(f"aqe: forgot what was learned about {subject}", file=sys.stderr)
            return EXIT_OK
    except (StateFileError, OSError, ValueError) as error:
        print(f"aqe state: {error}", file=sys.stderr)
        return EXIT_FINDINGS
    print(f"aqe state: choose one of {', '.join(STATE_COMMANDS)}", file=sys.stderr)
    return EXIT_USAGE


def conventions_command(args: argparse.Namespace) -> int:
    from aqe.review.conventions import WorkspaceConventions
    from aqe.workspace import Workspace

    root = workspace_root(args.path, "conventions")
    if root is None:
        return EXIT_USAGE
    settings = _settings(root)
    miner = WorkspaceConventions(root, Workspace((root,), settings.exclude))
    files = miner.scan()
    profile = miner.profile
    strong = {c.id for c in profile.strong(settings.convention_min_support, settings.convention_min_samples)}
    if args.format == "json":
        rows = [{**row, "strong": row["id"] in strong} for row in profile.to_json()]
        print(json.dumps({"files": files, "conventions": rows}, indent=2))
        return EXIT_OK
    for convention in sorted(profile.conventions.values(), key=lambda c: c.id):
        marker = "strong" if convention.id in strong else "weak  "
        print(f"{marker}  {convention.id:<24} {convention.evidence}")
    print(f"aqe: {files} Python files read", file=sys.stderr)
    return EXIT_OK
