"""Semantic gaps against measured line coverage, on libraries we did not write.

    python tests/bench/bench_gaps.py [--packages toolz==1.2.0 boltons==26.2.0] [--json OUT.json]

The library's own test suite runs once under coverage.py (outside the sandbox: this is a benchmark
on a known package); every function's measured line coverage is compared with aqe's semantic-gap
verdict (best similarity to any test under gapThreshold, from the index, without running anything).
A semantic gap says "no test looks like it is about this function", which is not the same as "no
test runs its lines" (code is often covered through its callers): the table shows how the two agree.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_retrieval import fetch_sdist
from bench_support import machine, markdown_table

from aqe.config import Settings
from aqe.coverage.gaps import semantic_gaps
from aqe.index.service import WorkspaceIndex
from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language
from aqe.parsing.units import UnitKind, is_test_file, iter_units

DEFAULT_PACKAGES = ("toolz==1.2.0", "boltons==26.2.0")
LOW = 0.5


def measured(root: Path) -> dict[str, dict[str, Any]]:
    """coverage.py's JSON report of the library's own suite (paths relative to `root`)."""
    with tempfile.TemporaryDirectory() as folder:
        data, report = Path(folder) / "data", Path(folder) / "report.json"
        env = {**os.environ, "PYTHONPATH": str(root / "src") + os.pathsep + str(root)}
        subprocess.run(
            [sys.executable, "-m", "coverage", "run", f"--data-file={data}", f"--source={root}", "-m", "pytest", "-q",
             "-p", "no:cacheprovider"],
            cwd=root, env=env, capture_output=True, timeout=1800, check=False,
        )  # fmt: skip
        subprocess.run(
            [sys.executable, "-m", "coverage", "json", f"--data-file={data}", "-o", str(report)],
            cwd=root, env=env, capture_output=True, timeout=300, check=False,
        )  # fmt: skip
        files = json.loads(report.read_text())["files"] if report.exists() else {}
    return {os.path.relpath(name, root) if os.path.isabs(name) else name: entry for name, entry in files.items()}


def function_coverage(root: Path, files: dict[str, dict[str, Any]]) -> dict[tuple[str, str], float]:
    result: dict[tuple[str, str], float] = {}
    for relative, entry in files.items():
        if is_test_file(relative) or not relative.endswith(".py"):
            continue
        executed, missing = set(entry.get("executed_lines", [])), set(entry.get("missing_lines", []))
        try:
            text = (root / relative).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for unit, node in iter_units(ParsedDocument.parse(relative, text, Language.PYTHON)):
            if unit.kind not in (UnitKind.FUNCTION, UnitKind.METHOD):
                continue
            lines = set(range(node.start_point[0] + 2, node.end_point[0] + 2))  # the body, 1-based
            statements = lines & (executed | missing)
            if statements:
                result[(relative, unit.qualified_name)] = len(statements & executed) / len(statements)
    return result


def evaluate(requirement: str) -> dict[str, Any]:
    root = fetch_sdist(requirement)
    coverage = function_coverage(root, measured(root))
    with tempfile.TemporaryDirectory() as index_dir:
        index = WorkspaceIndex(root, Settings(index_dir=index_dir, knowledge_paths=()))
        index.open(persistent=False)
        index.scan()
        gaps = {(gap.path, gap.qualified_name) for gap in semantic_gaps(index, index.settings.gap_threshold)}
        index.close()
    known = [key for key in coverage if not any(part.startswith("__") for part in key[1].split("."))]
    cells = {"gap_low": 0, "gap_high": 0, "nogap_low": 0, "nogap_high": 0}
    for key in known:
        low = coverage[key] < LOW
        cells[("gap" if key in gaps else "nogap") + ("_low" if low else "_high")] += 1
    uncovered = [key for key in known if coverage[key] == 0.0]
    return {
        "functions": len(known),
        "gaps": sum(1 for key in known if key in gaps),
        "cells": cells,
        "zero_coverage": len(uncovered),
        "zero_coverage_flagged": sum(1 for key in uncovered if key in gaps),
        "precision_low": round(cells["gap_low"] / max(1, cells["gap_low"] + cells["gap_high"]), 3),
        "recall_low": round(cells["gap_low"] / max(1, cells["gap_low"] + cells["nogap_low"]), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", nargs="+", default=list(DEFAULT_PACKAGES))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": machine("coverage", "pytest"), "low": LOW, "packages": {}}
    for requirement in args.packages:
        results["packages"][requirement] = evaluate(requirement)
        print(requirement, results["packages"][requirement], file=sys.stderr)
    print(f"Machine: {json.dumps(results['machine'])}\n")
    rows = [
        (name, r["functions"], r["gaps"], r["cells"]["gap_low"], r["cells"]["gap_high"], r["cells"]["nogap_low"],
         r["cells"]["nogap_high"], r["precision_low"], r["recall_low"],
         f"{r['zero_coverage_flagged']}/{r['zero_coverage']}")
        for name, r in results["packages"].items()
    ]  # fmt: skip
    print(markdown_table(
        ("package", "functions", "gaps", "gap & <50%", "gap & >=50%", "no gap & <50%", "no gap & >=50%",
         "precision (<50%)", "recall (<50%)", "0% flagged"), rows))  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
