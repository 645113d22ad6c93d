"""The flaky-test history, SQLite vs PostgreSQL: how fast CI jobs can ingest reports, and how long the
editor waits for the verdicts of one file once the history holds 100,000 runs.

Writes a project of FILES test files x TESTS tests and REPORTS JUnit reports (each one run of the
whole suite, outcomes from a seeded coin: some tests flaky, one broken), then for each backend:

- ingest: the reports with 1 ingester and with --jobs concurrent ones (threads, each with its own
  connection or its own SQLite connection), in reports/s and results/s;
- verdicts: what the editor does when the history changed (read every row, score, keep the verdicts
  of one file), median of --repeat timings, split into reading the rows and scoring them.

PostgreSQL is a throwaway server started from the machine's binaries (like the tests do), on the
same machine, over loopback TCP, with its default settings (fsync and synchronous_commit on).

    python tests/bench/bench_flaky_history.py [--reports 2000] [--jobs 8] [--repeat 5] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the throwaway server

from bench_support import machine
from postgres_server import find_server_binaries, start_server

from aqe.flaky.analysis import analyze
from aqe.flaky.history import HistoryStore, SqliteHistory
from aqe.flaky.junit import JUnitReport, read_junit
from aqe.flaky.postgres import PostgresHistory
from aqe.flaky.runs import ingest_reports

FILES, TESTS = 10, 5
_START = datetime(2026, 11, 1, tzinfo=timezone.utc).timestamp()


def write_project(root: Path) -> None:
    (root / "tests").mkdir(parents=True)
    for file in range(FILES):
        body = "".join(f"def test_case_{test}():\n    assert compute({test}) >= 0\n\n\n" for test in range(TESTS))
        (root / "tests" / f"test_module_{file}.py").write_text(f"from app import compute\n\n\n{body}")


def failure_rate(file: int, test: int) -> float:
    if (file, test) == (0, 0):
        return 1.0  # broken
    return 0.3 if test == 1 else 0.05 if test == 2 else 0.0


def write_reports(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    coin = random.Random(7)
    paths = []
    for run in range(count):
        stamp = datetime.fromtimestamp(_START + run * 60, tz=timezone.utc).isoformat()
        cases = []
        for file in range(FILES):
            for test in range(TESTS):
                failed = coin.random() < failure_rate(file, test)
                cases.append(
                    f'<testcase classname="tests.test_module_{file}" name="test_case_{test}" time="0.01">'
                    + ('<failure message="assert -1 &gt;= 0">boom</failure>' if failed else "")
                    + "</testcase>"
                )
        path = folder / f"run-{run:06d}.xml"
        path.write_text(f'<testsuite name="pytest" timestamp="{stamp}">{"".join(cases)}</testsuite>')
        paths.append(path)
    return paths


def ingest_all(make_store: Callable[[], HistoryStore], root: Path, reports: list[Path], jobs: int) -> float:
    """Seconds to ingest `reports` split between `jobs` threads, each with its own store."""
    shares = [reports[n::jobs] for n in range(jobs)]
    errors: list[BaseException] = []
    start = threading.Barrier(jobs + 1)

    def work(share: list[Path]) -> None:
        with make_store() as store:
            store.schema_version()
            start.wait()
            try:
                added, problems = ingest_reports(store, root, share, "v1")
                assert not problems and all(not known for _, _, known in added)
            except BaseException as error:
                errors.append(error)

    threads = [threading.Thread(target=work, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return elapsed


def editor_verdicts(store: HistoryStore, root: Path, file: str) -> tuple[float, float, int]:
    """(seconds reading the rows, seconds scoring, verdicts for `file`): the editor's refresh."""
    began = time.perf_counter()
    rows = store.rows()
    read = time.perf_counter() - began
    verdicts = [v for v in analyze(rows, root) if v.score.file == file]
    return read, time.perf_counter() - began - read, len(verdicts)


def measure(name: str, make_store: Callable[[], HistoryStore], root: Path, reports: list[Path], args) -> dict:  # type: ignore[no-untyped-def]
    results_per_report = FILES * TESTS
    sample = reports[: min(len(reports), 400)]
    single = ingest_all(make_store, root, sample, 1)
    rest = reports[len(sample) :]
    concurrent = ingest_all(make_store, root, rest, args.jobs) if rest else float("nan")
    with make_store() as store:
        runs = len(store.rows())
        timings = [editor_verdicts(store, root, "tests/test_module_3.py") for _ in range(args.repeat)]
    figures = {
        "backend": name,
        "runs_in_history": runs,
        "ingest_1_job_reports_per_s": round(len(sample) / single, 1),
        "ingest_1_job_results_per_s": round(len(sample) * results_per_report / single),
        f"ingest_{args.jobs}_jobs_reports_per_s": round(len(rest) / concurrent, 1),
        f"ingest_{args.jobs}_jobs_results_per_s": round(len(rest) * results_per_report / concurrent),
        "verdicts_one_file_s_median": round(statistics.median(r + s for r, s, _ in timings), 3),
        "of_which_reading_rows_s_median": round(statistics.median(r for r, _, _ in timings), 3),
        "of_which_scoring_s_median": round(statistics.median(s for _, s, _ in timings), 3),
        "verdicts_for_the_file": timings[0][2],
    }
    print(json.dumps(figures), file=sys.stderr)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=2000, help="reports of 50 results each (default 2000)")
    parser.add_argument("--jobs", type=int, default=8, help="concurrent ingesters (default 8)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    binaries = find_server_binaries()
    if binaries is None:
        print("no PostgreSQL server binaries: run scripts/install-postgres", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="aqe-bench-history-") as folder:
        base = Path(folder)
        root = base / "project"
        write_project(root)
        reports = write_reports(base / "reports", args.reports)
        parsed: list[JUnitReport] = [read_junit(path) for path in reports[:1]]
        assert len(parsed[0].cases) == FILES * TESTS
        server = start_server(binaries)
        try:
            sqlite = measure("sqlite", lambda: SqliteHistory(base / "history.sqlite3"), root, reports, args)
            postgres = measure("postgresql", lambda: PostgresHistory(server.url()), root, reports, args)
            with SqliteHistory(base / "history.sqlite3") as one, PostgresHistory(server.url()) as other:
                same = [v.message() for v in analyze(one.rows(), root)] == [
                    v.message() for v in analyze(other.rows(), root)
                ]
        finally:
            server.stop()
            server.remove()
    document: dict[str, Any] = {
        "machine": machine("psycopg", "psycopg-pool"),
        "postgresql": binaries.parent.name,
        "reports": args.reports,
        "results_per_report": FILES * TESTS,
        "jobs": args.jobs,
        "figures": [sqlite, postgres],
        "same_verdicts": same,
    }
    text = json.dumps(document, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
