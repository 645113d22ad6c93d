"""`aqe index` and `aqe search`: thin calls into aqe.index.service, formatted for people and scripts."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from aqe.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_USAGE,
    configure_logging,
    load_project_settings,
    project_root,
    workspace_root,
    write_report,
)

if TYPE_CHECKING:  # the commands' own imports are inside them: `aqe --version` must not pay for them
    from aqe.app.indexing import Freshness, ProjectIndex
    from aqe.index.store import SearchHit

log = logging.getLogger(__name__)


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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
    index.set_defaults(run=index_command)
    search.set_defaults(run=search_command)


def _open_index(root: Path, freshness: Freshness | None = None, *, rebuild: bool = False) -> ProjectIndex | None:
    """The project's index, opened (and freshened) now so a command can report why it cannot be."""
    from aqe.app.indexing import Freshness, ProjectIndex
    from aqe.app.project import Project

    loaded = load_project_settings(root)
    index = ProjectIndex(Project(root, loaded), freshness or Freshness.SAVED, rebuild=rebuild)
    try:
        index.get()
    except ValueError as error:
        print(f"aqe: the index cannot be built: {error}", file=sys.stderr)
        return None
    for message in index.messages:
        print(f"aqe: {message}", file=sys.stderr)
    return index


def _progress(done: int, total: int, path: str) -> None:
    if sys.stderr.isatty():
        print(f"\raqe: indexing {done}/{total} files", end="" if done < total else "\n", file=sys.stderr)


def index_command(args: argparse.Namespace) -> int:
    from aqe.app.indexing import Freshness
    from aqe.index.store import LoadOutcome

    configure_logging(args.verbose)
    root = workspace_root(args.path, "index")
    if root is None:
        return EXIT_USAGE
    opened = _open_index(root, Freshness.AS_IS, rebuild=args.rebuild)
    if opened is None:
        return EXIT_FINDINGS
    with opened:
        index = opened.get()
        report = index.scan(progress=_progress)
        generation = index.save()
        saved = generation is not None and index.store.load_report.outcome is not LoadOutcome.READ_ONLY  # type: ignore[union-attr]
        report.generation = generation if generation is not None else index.store.generation  # type: ignore[union-attr]
        stats = index.stats()
    if not saved:
        print(f"aqe index: the index was built but could not be saved in {stats['directory']}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps({"report": report.to_json(), "index": stats, "saved": saved}, indent=2))
        return EXIT_OK if saved else EXIT_FINDINGS
    skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(report.skipped.items())) or "none"
    print(
        f"indexed {report.files_seen} files ({report.bytes_read / 1e6:.1f} MB) in {report.seconds:.2f} s: "
        f"{report.units} code units, {report.knowledge_entries} knowledge entries; "
        f"{report.embedded} embedded, {report.moved} moved, {report.removed} removed; skipped: {skipped}"
    )
    if saved:
        print(f"index: {stats['directory']} (generation {report.generation}, {stats['entries']} entries)")
    return EXIT_OK if saved else EXIT_FINDINGS


def search_command(args: argparse.Namespace) -> int:
    from aqe.app.indexing import Freshness, hit_json
    from aqe.index.store import category_matches

    configure_logging(args.verbose)
    if args.k < 1:
        print("aqe search: -k must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    if not args.query.strip():
        print("aqe search: the query is empty", file=sys.stderr)
        return EXIT_USAGE
    root = workspace_root(args.root, "search")
    if root is None:
        return EXIT_USAGE
    opened = _open_index(root, Freshness.REFRESHED if args.refresh else Freshness.SAVED)
    if opened is None:
        return EXIT_FINDINGS
    with opened:
        index = opened.get()
        assert index.store is not None
        hits = index.search(args.query, args.k, args.category)
        known = sorted(index.store.categories())
    if args.category and not any(category_matches(args.category, category) for category in known):
        print(f"aqe search: no category {args.category!r}; the index has: {', '.join(known)}", file=sys.stderr)
        return EXIT_USAGE
    if args.format == "json":
        print(json.dumps([hit_json(root, hit) for hit in hits], indent=2))
    else:
        for hit in hits:
            print(_hit_line(hit))
        if not hits:
            print("no results" + (f" in category {args.category}" if args.category else ""), file=sys.stderr)
    return EXIT_OK


def _hit_line(hit: SearchHit) -> str:
    record = hit.record
    if record.kind == "knowledge":
        where = record.key.removeprefix("knowledge:")
    else:
        where = f"{record.path}:{record.start_line + 1}"
    return f"{hit.score:6.3f}  {record.category:<28} {where}  {record.symbol}"


def gaps_command(args: argparse.Namespace) -> int:
    from aqe.app.indexing import Freshness

    """`aqe coverage --gaps`: functions whose best similarity to any test is under gapThreshold."""
    from aqe import __version__
    from aqe.coverage.gaps import gap_findings, semantic_gaps
    from aqe.report.sarif import line_text_from_files, render_sarif

    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"aqe coverage: no such file or folder: {', '.join(map(str, missing))}", file=sys.stderr)
        return EXIT_USAGE
    paths = [Path(p).resolve() for p in args.paths]
    root = project_root(paths)
    opened = _open_index(root, Freshness.REFRESHED)
    if opened is None:
        return EXIT_FINDINGS
    with opened:
        index = opened.get()
        wanted = None
        if paths and paths != [root]:
            wanted = {record.path for record in index.store.records() if any(  # type: ignore[union-attr]
                (root / record.path) == p or p in (root / record.path).parents for p in paths)}  # fmt: skip
        threshold = index.settings.gap_threshold
        gaps = semantic_gaps(index, threshold, wanted)
    if args.format == "json":
        output = json.dumps(
            {
                "version": 1,
                "threshold": threshold,
                "gaps": [
                    {
                        "path": gap.path,
                        "name": gap.qualified_name,
                        "kind": gap.kind,
                        "line": gap.name_span.start.line + 1,
                        "bestSimilarity": round(gap.best_similarity, 4),
                        "closestTest": gap.closest_test,
                        "complexity": gap.complexity,
                        "public": gap.public,
                        "priority": round(gap.priority, 3),
                    }
                    for gap in gaps
                ],
            },
            indent=2,
        )
    elif args.format == "sarif":
        findings = gap_findings(gaps, root)
        output = render_sarif(findings, root, rules=(), tool_version=__version__, line_text=line_text_from_files(root))
    else:
        rows = [
            f"{gap.path}:{gap.name_span.start.line + 1}  {gap.qualified_name}  priority {gap.priority:.1f} "
            f"(complexity {gap.complexity}, {'public' if gap.public else 'private'}, best test similarity "
            f"{gap.best_similarity:.2f})"
            for gap in gaps
        ]
        output = "\n".join(rows) if rows else f"no semantic gaps: every function resembles a test (>= {threshold})"
    write_report(output, args.output)
    return EXIT_OK
