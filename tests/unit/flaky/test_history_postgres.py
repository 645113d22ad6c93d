"""The shared history on a real PostgreSQL server: the same verdicts as SQLite, each report counted once
however many jobs send it at once, and nothing acknowledged lost when the server restarts."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
from history_reports import make_project, verdicts_of, write_reports
from postgres_server import PostgresServer

from aqe.flaky.history import HistoryError, SqliteHistory
from aqe.flaky.junit import read_junit
from aqe.flaky.postgres import PostgresHistory
from aqe.flaky.runs import ingest_reports

SERVER = Path(__file__).resolve().parents[3] / "server"


def _counts(url: str) -> tuple[int, int, int]:
    """(reports, results, distinct report digests) straight from the database."""
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT (SELECT COUNT(*) FROM aqe_flaky.reports), (SELECT COUNT(*) FROM aqe_flaky.results), "
            "(SELECT COUNT(DISTINCT digest) FROM aqe_flaky.reports)"
        ).fetchone()
    assert row is not None
    return (row[0], row[1], row[2])


def _aqe(project: Path, url: str, *arguments: str) -> subprocess.Popen[str]:
    environment = {
        **os.environ,
        "AQE_FLAKY_HISTORY_URL": url,
        "PYTHONPATH": str(SERVER),
        "XDG_CONFIG_HOME": str(project / ".no-user-config"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "aqe", "flaky", "--root", str(project), *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )


def test_the_same_reports_give_the_same_verdicts_in_sqlite_and_postgresql(tmp_path, postgres_url):
    project = make_project(tmp_path / "project")
    reports = write_reports(tmp_path / "reports", range(60))
    sqlite = SqliteHistory(tmp_path / "history.sqlite3")
    with PostgresHistory(postgres_url) as postgres:
        for store in (sqlite, postgres):
            added, problems = ingest_reports(store, project, reports, "v1")
            assert problems == [] and len(added) == 60
        expected = verdicts_of(sqlite, project)
        assert verdicts_of(postgres, project) == expected
    verdicts = {row[0].split("::")[1]: row[1] for row in expected}
    assert verdicts == {
        "test_total": "stable", "test_coin": "flaky", "test_deadline": "flaky", "test_broken": "failing",
        "test_writes_cache": "stable", "test_reads_cache": "flaky",
    }  # fmt: skip


def test_a_report_ingested_twice_counts_once(tmp_path, postgres_url):
    project = make_project(tmp_path / "project")
    (path,) = write_reports(tmp_path / "reports", range(1))
    with PostgresHistory(postgres_url) as history:
        first = history.ingest(read_junit(path), project, version="v1")
        again = history.ingest(read_junit(path), project, version="v1")
    assert (first.added, first.already_known) == (6, False)
    assert (again.added, again.already_known) == (0, True)
    assert _counts(postgres_url) == (1, 6, 1)


def test_two_ci_jobs_ingesting_the_same_reports_at_the_same_moment_store_each_once(tmp_path, postgres_url):
    project = make_project(tmp_path / "project")
    reports = [str(path) for path in write_reports(tmp_path / "reports", range(40))]
    PostgresHistory(postgres_url).schema_version()  # the schema exists: both jobs race on reports, not on DDL
    jobs = [_aqe(project, postgres_url, "ingest", "--code-version", "v1", *reports) for _ in range(2)]
    outputs = [job.communicate(timeout=300) for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0], outputs
    added = [line for stdout, _ in outputs for line in stdout.splitlines() if line.endswith("6 results added")]
    known = [line for stdout, _ in outputs for line in stdout.splitlines() if line.endswith("already in the history")]
    assert (len(added), len(known)) == (40, 40)
    assert _counts(postgres_url) == (40, 240, 40)


def test_twenty_concurrent_ingesters_lose_and_duplicate_nothing(tmp_path, postgres_url):
    project = make_project(tmp_path / "project")
    per_ingester, ingesters = 100, 20
    batches = [
        write_reports(tmp_path / f"reports-{n}", range(n * per_ingester, (n + 1) * per_ingester))
        for n in range(ingesters)
    ]
    PostgresHistory(postgres_url).schema_version()
    errors: list[BaseException] = []
    acknowledged: list[int] = []
    start = threading.Barrier(ingesters)

    def ingest(paths: list[Path]) -> None:
        with PostgresHistory(postgres_url, max_connections=1) as history:  # a connection of its own
            try:
                start.wait()
                added, problems = ingest_reports(history, project, paths, "v1")
                assert problems == []
                acknowledged.extend(count for _, count, known in added if not known)
            except BaseException as error:  # a thread's exception would otherwise vanish
                errors.append(error)

    threads = [threading.Thread(target=ingest, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(acknowledged) == ingesters * per_ingester and set(acknowledged) == {6}
    assert _counts(postgres_url) == (2000, 12000, 2000)

    sqlite = SqliteHistory(tmp_path / "history.sqlite3")
    ingest_reports(sqlite, project, [path for batch in batches for path in batch], "v1")
    with PostgresHistory(postgres_url) as postgres:
        assert verdicts_of(postgres, project) == verdicts_of(sqlite, project)


def _wait_until(condition, what: str, timeout_s: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting until {what}"
        time.sleep(0.05)


def test_a_restart_in_the_middle_of_ingestion_loses_nothing_acknowledged(
    tmp_path, postgres_url, postgres_server: PostgresServer, caplog
):
    """Every ingester is inside a transaction when the server stops: the test holds a lock that their
    inserts wait on, and stops the server once all of them wait (pg_stat_activity)."""
    caplog.set_level(logging.DEBUG)
    project = make_project(tmp_path / "project")
    ingesters, per_ingester = 4, 100
    batches = [
        [
            read_junit(path)
            for path in write_reports(tmp_path / f"r{n}", range(n * per_ingester, (n + 1) * per_ingester))
        ]
        for n in range(ingesters)
    ]
    PostgresHistory(postgres_url).schema_version()
    generation = [0]  # bumped while every ingester waits, before the stop: acknowledgements are tagged with it
    acknowledged: list[tuple[str, int]] = []
    failures: list[BaseException] = []
    progress = threading.Condition()
    start = threading.Barrier(ingesters)

    def ingest(reports) -> None:  # type: ignore[no-untyped-def]
        with PostgresHistory(postgres_url, patience_s=120, max_connections=1) as history:
            start.wait()
            for report in reports:
                try:
                    history.ingest(report, project, version="v1")
                except HistoryError as error:  # failing loudly is allowed; losing an acknowledged report is not
                    failures.append(error)
                    return
                with progress:
                    acknowledged.append((report.digest, generation[0]))
                    progress.notify_all()

    threads = [threading.Thread(target=ingest, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    blocker = psycopg.connect(postgres_url)
    try:
        with progress:
            assert progress.wait_for(lambda: len(acknowledged) >= 40, timeout=120)
        blocker.execute("LOCK TABLE aqe_flaky.reports IN EXCLUSIVE MODE")  # inserts now wait, mid-transaction

        def waiting() -> int:
            with psycopg.connect(postgres_url) as probe:
                row = probe.execute(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'aqe-flaky-history' "
                    "AND wait_event_type = 'Lock'"
                ).fetchone()
            return row[0] if row else 0

        _wait_until(lambda: waiting() == sum(thread.is_alive() for thread in threads) > 0, "every ingester waits")
        with progress:
            generation[0] = 1
        postgres_server.stop("fast")
    finally:
        blocker.close()
        postgres_server.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert {tag for _, tag in acknowledged} == {0, 1}, "ingestion went on across the restart"
    assert "retrying storing" in caplog.text  # the transactions cut by the stop were retried
    with psycopg.connect(postgres_url) as connection:
        stored = [digest for (digest,) in connection.execute("SELECT digest FROM aqe_flaky.reports")]
    assert sorted(stored) == sorted(digest for digest, _ in acknowledged)
    assert _counts(postgres_url) == (400, 2400, 400)
    assert postgres_server.password not in caplog.text  # the pool's and the retries' own logs
