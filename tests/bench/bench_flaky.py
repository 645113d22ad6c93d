"""Precision, recall and root-cause accuracy of the flaky-test hunter on a seeded suite.

Copies `tests/bench/flaky_suite` (44 flaky tests over 11 root-cause classes, 48 stable or always
failing ones; the answer key is its EXPECTED.json, the polluter or setter of each order-dependent
test is in POLLUTERS.json) to a temporary folder, runs it with the same
machinery as `aqe flaky run -n RUNS` (whole-suite runs in order and shuffled, then runs alone for
every test that failed; all in the sandbox), and scores the verdicts:

- precision: of the tests reported flaky, how many are flaky in the answer key;
- recall: of the flaky tests in the answer key, how many were reported;
- cause accuracy: of the flaky tests reported, how many got the right root-cause class;
- polluters found: of the order-dependent tests, how many name the right polluter (or setter);
- most runs of one test: its runs in the suite and alone plus the bisection runs it took part in.

    python tests/bench/bench_flaky.py [--runs 20] [--repeat 3] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench_support import cpu_model

from aqe import __version__ as aqe_version
from aqe.flaky.analysis import analyze
from aqe.flaky.history import History
from aqe.flaky.runs import FlakyRunner
from aqe.flaky.scoring import Verdict
from aqe.sandbox.runner import SandboxRunner, isolation_support

SUITE = Path(__file__).parent / "flaky_suite"
GOAL_VERDICTS = 0.95
GOAL_CAUSES = 0.9
GOAL_POLLUTERS = 0.9


@dataclass(frozen=True)
class Round:
    runs_per_test: int
    sandbox_runs: int
    seconds: float
    precision: float
    recall: float
    cause_accuracy: float
    polluters_found: float
    most_runs_of_one_test: int
    reported: list[str]
    missed: list[str]
    false_alarms: list[str]
    wrong_causes: dict[str, str]
    rows: list[dict[str, Any]]


def one_round(runs: int) -> Round:
    expected: dict[str, str | None] = json.loads((SUITE / "EXPECTED.json").read_text())
    with tempfile.TemporaryDirectory(prefix="aqe-bench-flaky-") as scratch:
        root = Path(scratch) / "suite"
        shutil.copytree(SUITE, root)
        history = History.for_workspace(root, ".aqe")
        runner = FlakyRunner(
            root,
            SandboxRunner(trusted=True),
            history,
            sys.executable,
            timeout_s=300,
            memory_bytes=2 * 1024**3,
            allow_network=False,
            progress=lambda message: print(f"  {message}", file=sys.stderr),
        )
        started = time.monotonic()
        summary = runner.run([], runs)
        seconds = time.monotonic() - started
        all_rows = history.rows()
        verdicts = {v.test_id: v for v in analyze(all_rows, root)}
    polluters: dict[str, str] = json.loads((SUITE / "POLLUTERS.json").read_text())
    found = [t for t, p in polluters.items() if t in verdicts and verdicts[t].order and verdicts[t].order.culprit == p]
    runs_of: dict[str, int] = {}
    for row in all_rows:
        runs_of[row.test_id] = runs_of.get(row.test_id, 0) + 1
    flaky_expected = {test for test, cause in expected.items() if cause is not None}
    reported = sorted(test for test, v in verdicts.items() if v.verdict is Verdict.FLAKY)
    true_positives = [test for test in reported if test in flaky_expected]
    wrong = {
        test: (verdicts[test].cause.value if verdicts[test].cause else "none")
        for test in true_positives
        if verdicts[test].cause is None or verdicts[test].cause.value != expected[test]
    }
    rows = []
    for test, cause in expected.items():
        verdict = verdicts.get(test)
        rows.append(
            {
                "test": test,
                "expected": cause or "not flaky",
                "verdict": verdict.verdict.value if verdict else "missing",
                "cause": verdict.cause.value if verdict and verdict.cause else "",
                "runs": verdict.score.runs if verdict else 0,
                "failures": verdict.score.failures if verdict else 0,
                "message": verdict.message() if verdict else "",
            }
        )
    return Round(
        runs_per_test=runs,
        sandbox_runs=len(summary.runs),
        seconds=round(seconds, 1),
        precision=len(true_positives) / len(reported) if reported else 1.0,
        recall=len(true_positives) / len(flaky_expected),
        cause_accuracy=(len(true_positives) - len(wrong)) / len(true_positives) if true_positives else 0.0,
        polluters_found=len(found) / len(polluters),
        most_runs_of_one_test=max(runs_of.values(), default=0),
        reported=reported,
        missed=sorted(flaky_expected - set(reported)),
        false_alarms=sorted(set(reported) - flaky_expected),
        wrong_causes=wrong,
        rows=rows,
    )


def machine() -> str:
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="runs per test (the budget; default 20)")
    parser.add_argument("--repeat", type=int, default=1, help="independent rounds (default 1)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    support = isolation_support()
    print(f"machine: {machine()}; aqe {aqe_version}; {datetime.date.today()}")
    print(f"sandbox: {support.detail}")
    rounds = []
    for index in range(args.repeat):
        print(f"round {index + 1}/{args.repeat}", file=sys.stderr)
        rounds.append(one_round(args.runs))
    print()
    print("| round | runs/test | most runs of one test | sandbox runs | time s | precision | recall | cause accuracy "
          "| polluters found |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for index, result in enumerate(rounds, start=1):
        print(
            f"| {index} | {result.runs_per_test} | {result.most_runs_of_one_test} | {result.sandbox_runs} | "
            f"{result.seconds} | {result.precision:.2f} | {result.recall:.2f} | {result.cause_accuracy:.2f} | "
            f"{result.polluters_found:.2f} |"
        )
    last = rounds[-1]
    print()
    print("| test | expected | verdict | cause | failures/runs |")
    print("|---|---|---|---|---:|")
    for row in last.rows:
        counts = f"{row['failures']}/{row['runs']}"
        print(f"| `{row['test']}` | {row['expected']} | {row['verdict']} | {row['cause']} | {counts} |")
    for result in rounds:
        if result.missed or result.false_alarms or result.wrong_causes:
            print(
                f"\nmissed: {result.missed}; false alarms: {result.false_alarms}; wrong causes: {result.wrong_causes}"
            )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rounds], indent=2))
    met = all(
        r.precision >= GOAL_VERDICTS
        and r.recall >= GOAL_VERDICTS
        and r.cause_accuracy >= GOAL_CAUSES
        and r.polluters_found >= GOAL_POLLUTERS
        for r in rounds
    )
    print(
        f"\ngoals (precision and recall >= {GOAL_VERDICTS}, cause accuracy >= {GOAL_CAUSES}, polluters found >= "
        f"{GOAL_POLLUTERS}): {'met' if met else 'NOT met'}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
