"""Test generation on code we did not write, against Pynguin with the same time budget.

    python tests/bench/bench_testgen.py [--package humanize==4.17.0] [--pynguin ~/.cache/aqe/pynguin-venv/bin/pynguin]
                                        [--no-model] [--limit N] [--json OUT.json] [--keep DIR]

The library's source distribution comes from PyPI (cached in ~/.cache/aqe/bench-sdists); its own tests
are left out of the workspace, so aqe sees only the code. For every public top-level function of the
package, `TestGenerator` (what "Generate test" and `aqe generate` run: the embedded default model plus
the model-free generator, proofs in the sandbox) tries to prove one test. The proven tests of each
module are then written to tests/test_<module>.py and the module's line and branch coverage measured
with coverage.py. Pynguin (installed in its own virtual environment: it pins its own dependencies)
then gets, per module, the same wall-clock seconds aqe spent on that module's functions, and its
tests are measured the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench_retrieval import fetch_sdist
from bench_support import machine, markdown_table

from aqe.config import Settings
from aqe.llm.factory import build_router
from aqe.llm.router import RoutingHints
from aqe.sandbox.runner import SandboxRunner
from aqe.testgen.generate import TestGenerator
from aqe.testgen.placement import Destination, build_edit
from aqe.testgen.target import TargetError, find_target_by_name

DEFAULT_PACKAGE = "humanize==4.17.0"
DEFAULT_PYNGUIN = Path.home() / ".cache" / "aqe" / "pynguin-venv" / "bin" / "pynguin"
GOAL_PROVEN = 0.6
GOAL_MEDIAN_S = 10.0


def workspace_without_tests(sdist: Path, destination: Path) -> tuple[Path, str]:
    """src/ (or the package folder) and a pyproject that points pytest at it; no tests."""
    root = destination / sdist.name
    source = sdist / "src" if (sdist / "src").is_dir() else sdist
    packages = [p for p in source.iterdir() if p.is_dir() and (p / "__init__.py").is_file() and p.name != "tests"]
    (root / "src").mkdir(parents=True)
    for package in packages:
        shutil.copytree(package, root / "src" / package.name)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["src"]\ntestpaths = ["tests"]\n')
    return root, packages[0].name


def public_functions(root: Path, package: str) -> list[tuple[str, str]]:
    found = []
    for path in sorted((root / "src" / package).glob("*.py")):
        if path.name.startswith("_"):
            continue
        relative = path.relative_to(root).as_posix()
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("def ") and not line.startswith("def _"):
                found.append((relative, line[4:].split("(", 1)[0]))
    return found


def coverage_of(root: Path, tests: list[Path], module_file: Path, python: str = sys.executable) -> dict[str, float]:
    """Line and branch coverage of one module by some test files, measured by coverage.py."""
    if not tests:
        return {"lines": 0.0, "branches": 0.0}
    with tempfile.TemporaryDirectory() as folder:
        data, report = Path(folder) / "data", Path(folder) / "report.json"
        env = {**os.environ, "PYTHONPATH": str(root / "src")}
        subprocess.run(
            [python, "-m", "coverage", "run", "--branch", f"--data-file={data}", f"--include={module_file}", "-m",
             "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *map(str, tests)],
            cwd=root, env=env, capture_output=True, timeout=600, check=False,
        )  # fmt: skip
        subprocess.run(
            [python, "-m", "coverage", "json", f"--data-file={data}", "-o", str(report)],
            cwd=root, env=env, capture_output=True, timeout=120, check=False,
        )  # fmt: skip
        if not report.exists():
            return {"lines": 0.0, "branches": 0.0}
        totals = next(iter(json.loads(report.read_text())["files"].values()), {}).get("summary", {})
    statements, branches = totals.get("num_statements", 0), totals.get("num_branches", 0)
    return {
        "lines": round(100.0 * totals.get("covered_lines", 0) / statements, 1) if statements else 0.0,
        "branches": round(100.0 * totals.get("covered_branches", 0) / branches, 1) if branches else 0.0,
    }


def run_aqe(root: Path, functions: list[tuple[str, str]], use_model: bool) -> list[dict[str, Any]]:
    settings = Settings(test_generation_candidates=3 if use_model else 0, sandbox_timeout_s=60.0)
    router = build_router(settings, root) if use_model else None

    def complete(prompt, options, cancel):  # type: ignore[no-untyped-def]
        assert router is not None
        return router.complete(prompt, options, cancel=cancel, hints=RoutingHints(tags=("testgen",)))

    results = []
    try:
        for relative, name in functions:
            text = (root / relative).read_text(encoding="utf-8")
            try:
                target = find_target_by_name(root, relative, text, name)
            except TargetError as error:
                results.append(
                    {"file": relative, "function": name, "proven": False, "reason": str(error), "seconds": 0}
                )
                continue
            generator = TestGenerator(
                root, settings, SandboxRunner(trusted=True), complete=complete if use_model else None
            )
            result = generator.generate(target, text)
            proven = result.proven
            row = {
                "file": relative,
                "function": name,
                "proven": proven is not None,
                "reason": result.reason,
                "seconds": round(result.seconds, 2),
                "timings": {key: round(value, 2) for key, value in result.timings.items()},
                "generator": proven.candidate.generator if proven else None,
                "arcs_gained": (proven.arcs_after - proven.arcs_before) if proven else 0,
                "candidates": len(result.candidates),
                "model_candidates_proven": sum(
                    1
                    for c in result.candidates
                    if c.generator.startswith("model") and c.passed_runs >= 2 and c.arcs_gained
                ),
            }
            results.append(row)
            print(f"{relative}::{name}: {'proven' if proven else 'no'} in {result.seconds:.1f}s ({row['generator']}) "
                  f"{'' if proven else result.reason}", file=sys.stderr)  # fmt: skip
            if proven is not None:  # later functions of the module see it as the project's own test
                path = root / proven.edit.path
                existing = path.read_text(encoding="utf-8") if path.exists() else None
                edit = build_edit(Destination(proven.edit.path, existing, frozenset()), [proven.candidate])
                path.write_text(edit.new_text, encoding="utf-8")
    finally:
        if router is not None:
            router.close()
    return results


def run_pynguin(pynguin: Path, root: Path, module: str, seconds: int, output: Path) -> tuple[list[Path], float, str]:
    output.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    process = subprocess.run(
        [str(pynguin), "--project-path", str(root / "src"), "--module-name", module, "--output-path", str(output),
         "--maximum_search_time", str(max(1, seconds)), "--create_coverage_report", "False",
         "--report_dir", str(output / "report")],
        env={**os.environ, "PYNGUIN_DANGER_AWARE": "1", "PYTHONPATH": str(root / "src")},
        capture_output=True, text=True, timeout=seconds * 4 + 300, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    tail = (process.stdout + process.stderr).strip().splitlines()[-1:] or [f"exit {process.returncode}"]
    return sorted(output.glob("test_*.py")), elapsed, tail[0][:200]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--package", default=DEFAULT_PACKAGE)
    parser.add_argument("--pynguin", type=Path, default=DEFAULT_PYNGUIN)
    parser.add_argument("--no-model", action="store_true")
    parser.add_argument("--limit", type=int, default=0, help="only the first N functions")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", type=Path, help="copy the workspace with its generated tests here (for mutmut)")
    args = parser.parse_args()
    sdist = fetch_sdist(args.package)
    results: dict[str, Any] = {"machine": machine("llama-cpp-python", "coverage", "pytest"), "package": args.package}
    with tempfile.TemporaryDirectory(prefix="aqe-bench-testgen-") as folder:
        root, package = workspace_without_tests(sdist, Path(folder))
        functions = public_functions(root, package)
        if args.limit:
            functions = functions[: args.limit]
        rows = run_aqe(root, functions, use_model=not args.no_model)
        results["functions"] = rows
        modules: dict[str, Any] = {}
        for relative in sorted({row["file"] for row in rows}):
            module_file = root / relative
            stem = Path(relative).stem
            budget = sum(row["seconds"] for row in rows if row["file"] == relative)
            ours = coverage_of(
                root,
                [root / "tests" / f"test_{stem}.py"] if (root / "tests" / f"test_{stem}.py").exists() else [],
                module_file,
            )
            entry: dict[str, Any] = {
                "functions": sum(1 for row in rows if row["file"] == relative),
                "budget_s": round(budget, 1),
                "aqe": ours,
            }
            if args.pynguin.exists():
                module = ".".join(Path(relative).with_suffix("").parts[1:])
                tests, elapsed, tail = run_pynguin(
                    args.pynguin, root, module, int(budget), Path(folder) / "pynguin" / stem
                )
                entry["pynguin"] = coverage_of(root, tests, module_file)
                entry["pynguin_seconds"] = round(elapsed, 1)
                entry["pynguin_tests"] = [t.name for t in tests]
                entry["pynguin_note"] = tail
            modules[relative] = entry
            print(f"{relative}: {entry}", file=sys.stderr)
        results["modules"] = modules
        if args.keep:
            shutil.copytree(root, args.keep, dirs_exist_ok=True)
    proven = [row for row in rows if row["proven"]]
    times = [row["seconds"] for row in rows if row["seconds"]]
    results["summary"] = {
        "functions": len(rows),
        "proven": len(proven),
        "proven_share": round(len(proven) / len(rows), 3) if rows else 0.0,
        "median_s": round(statistics.median(times), 2) if times else None,
        "p90_s": round(sorted(times)[int(0.9 * (len(times) - 1))], 2) if times else None,
        # A proven test may combine candidates ("doctest+values"): each generator in it counts.
        "winners": dict(Counter(part.split(":")[0] for row in proven for part in row["generator"].split("+"))),
        "model_candidates_proven": sum(row.get("model_candidates_proven", 0) for row in rows),
    }
    print(f"Machine: {json.dumps(results['machine'])}\n")
    print(json.dumps(results["summary"]))
    print(markdown_table(
        ("module", "functions", "budget s", "aqe lines %", "aqe branches %", "Pynguin lines %", "Pynguin branches %"),
        [(name, m["functions"], m["budget_s"], m["aqe"]["lines"], m["aqe"]["branches"],
          m.get("pynguin", {}).get("lines", "n/a"), m.get("pynguin", {}).get("branches", "n/a"))
         for name, m in results["modules"].items()],
    ))  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
