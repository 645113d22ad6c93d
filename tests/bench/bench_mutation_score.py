"""Mutation score of the tests aqe generated: how many of mutmut's mutants of the code they kill.

    python tests/bench/bench_testgen.py --package pyhumps==3.8.0 --no-model --keep WORKSPACE
    python tests/bench/bench_mutation_score.py WORKSPACE [--json OUT.json]

WORKSPACE is the copy bench_testgen.py keeps (src/<package>/ and the generated tests/). mutmut 3 mutates
every module of the package and runs the generated tests against each mutant; a module without
generated tests counts its mutants as not killed. Coverage says which lines ran; this says whether a
test would notice if they did something else.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path


def configure(workspace: Path) -> str:
    """Point mutmut at the package and the generated tests (once)."""
    package = next(p.name for p in (workspace / "src").iterdir() if (p / "__init__.py").is_file())
    pyproject = workspace / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    if "[tool.mutmut]" not in text:
        text += f'\n[tool.mutmut]\nsource_paths = ["src/{package}/"]\npytest_add_cli_args_test_selection = ["tests/"]\n'
        pyproject.write_text(text, encoding="utf-8")
    return package


def mutation_counts(workspace: Path) -> dict[str, Counter[str]]:
    """Module -> how many of its mutants ended in each status (killed, survived, no tests, ...)."""
    mutmut = Path(sys.executable).with_name("mutmut")
    subprocess.run([str(mutmut), "run"], cwd=workspace, capture_output=True, text=True, check=False)
    listed = subprocess.run(
        [str(mutmut), "results", "--all", "true"], cwd=workspace, capture_output=True, text=True, check=True
    )
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for line in listed.stdout.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if "__mutmut_" not in name:
            continue
        module = name.rsplit(".", 1)[0]
        counts[module][status.strip()] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    configure(args.workspace)
    counts = mutation_counts(args.workspace)
    rows = {}
    for module, statuses in sorted(counts.items()):
        total = sum(statuses.values())
        rows[module] = {
            "mutants": total,
            "killed": statuses["killed"],
            "score": round(100.0 * statuses["killed"] / total, 1) if total else 0.0,
            "statuses": dict(statuses),
        }
        print(f"{module}: {rows[module]}")
    killed = sum(row["killed"] for row in rows.values())
    total = sum(row["mutants"] for row in rows.values())
    summary = {"mutants": total, "killed": killed, "score": round(100.0 * killed / total, 1) if total else 0.0}
    print(json.dumps(summary))
    if args.json:
        args.json.write_text(json.dumps({"modules": rows, "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
