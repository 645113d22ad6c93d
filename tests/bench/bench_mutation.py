"""Cost of one mutation run (what a hint run on save and `aqe mutants` do) on code we did not write.

    python tests/bench/bench_mutation.py [--package isodate==0.7.2 ...] [--per-package N] [--json OUT.json]

Each library's source distribution comes from PyPI (cached in ~/.cache/aqe/bench-sdists) with its own
tests. For up to N public top-level functions per package, `MutationService.run` (the app service
behind `aqe mutants`) makes the function's mutants with mutmut's operators and runs them in one
sandboxed pytest session against the package's tests that import the module. Reported per function:
mutants, the tests that call it, killed, and the wall-clock seconds of the whole run (sandbox start,
collection, baseline pass, every mutant).
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_retrieval import fetch_sdist
from bench_support import machine, markdown_table

from aqe.app.mutation import MutationService
from aqe.app.project import Project
from aqe.mutation.mutants import MutationError
from aqe.mutation.run import MutationRunFailed

PACKAGES = ("isodate==0.7.2", "pyhumps==3.8.0", "humanize==4.17.0")


def public_functions(root: Path) -> list[tuple[str, str]]:
    """(workspace-relative file, function name) of public top-level functions outside the tests."""
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative.startswith(("tests/", "docs/", "scripts/")) or "/_" in f"/{path.name}" or "test" in path.name:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [
            (relative, node.name)
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_") and not node.decorator_list
        ]
    return found


def bench_package(requirement: str, per_package: int) -> list[dict[str, Any]]:
    source = fetch_sdist(requirement)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / source.name
        shutil.copytree(source, root)
        service = MutationService(Project.load(root.resolve()))
        functions = public_functions(root)
        step = max(1, len(functions) // per_package)
        for path, name in functions[::step][:per_package]:
            started = time.monotonic()
            try:
                run = service.run(path, name)
            except (MutationError, MutationRunFailed) as error:
                rows.append({"package": requirement, "function": f"{path}::{name}", "error": str(error)})
                continue
            seconds = round(time.monotonic() - started, 2)
            row = {"package": requirement, "function": f"{path}::{name}", "mutants": len(run.outcomes)}
            row |= {"judged": run.total, "killed": run.killed, "tests": len(run.tests), "seconds": seconds}
            rows.append(row)
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--package", action="append", help="name==version (repeatable)")
    parser.add_argument("--per-package", type=int, default=6)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = [row for package in args.package or PACKAGES for row in bench_package(package, args.per_package)]
    measured = [row for row in rows if "seconds" in row and row["tests"]]
    small = [row for row in measured if row["mutants"] <= 40]
    print(markdown_table(
        ("function", "mutants", "tests calling it", "killed", "seconds"),
        [(f"{row['package']} `{row['function']}`", row["mutants"], row["tests"], row["killed"], row["seconds"])
         for row in rows if "seconds" in row],
    ))  # fmt: skip
    for row in rows:
        if "error" in row:
            print(f"- {row['package']} `{row['function']}`: {row['error']}")
    if small:
        seconds = sorted(row["seconds"] for row in small)
        print(
            f"\nfunctions with 1-40 mutants and a test calling them: {len(small)}; seconds median "
            f"{statistics.median(seconds):.2f}, max {seconds[-1]:.2f}; mutants killed "
            f"{sum(r['killed'] for r in small)} of {sum(r['judged'] for r in small)}"
        )
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
