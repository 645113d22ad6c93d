"""The test history: every outcome of every test aqe has seen, behind one interface with two backends.

`HistoryStore` is what the rest of aqe uses; `SqliteHistory` (the default, a file under the
workspace's `indexDir`: `.aqe/flaky-history.sqlite3`) keeps a laptop's history, and
`aqe.flaky.postgres.PostgresHistory` keeps a team's, shared by every CI job (`flakyHistoryUrl`).
Both apply the same migrations (`aqe.flaky.schema`) and refuse a newer schema rather than write it.

A report is stored with the sha256 of its bytes under a unique key, inserted with ON CONFLICT DO
NOTHING in the transaction that adds its results: the same report ingested again, even by two jobs
at the same moment, counts once.

SQLite gives the durability the project asks of its files (journalled, `synchronous=FULL`) and safe
use by two processes at once (an editor and a CI step).
"""

from __future__ import annotations

import abc
import contextlib
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from aqe.durable import make_state_folder
from aqe.flaky.identity import TestSources, identify
from aqe.flaky.junit import JUnitReport, Outcome
from aqe.flaky.schema import SCHEMA_VERSION, SQLITE, migration_steps, newer_schema_message

HISTORY_FILE = "flaky-history.sqlite3"
RUN_KINDS = ("ingested", "suite", "shuffled", "isolated", "bisect")

ROW_COLUMNS = (
    "test_id, file, name, class_name, code_version, test_hash, run_at, outcome, duration_s, message, run_kind, "
    "report_id, ordinal"
)
INSERT_REPORT = (
    "INSERT INTO reports (digest, source, ingested_at, run_kind, code_version) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (digest) DO NOTHING RETURNING id"
)
INSERT_RESULT = (
    "INSERT INTO results (report_id, ordinal, test_id, file, name, class_name, code_version, test_hash, run_at, "
    "outcome, duration_s, message, run_kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SELECT_REPORTS = "SELECT id, digest, source, ingested_at, run_kind, code_version FROM reports ORDER BY id"
SELECT_RESULTS_BY_REPORT = (
    "SELECT report_id, ordinal, test_id, file, name, class_name, code_version, test_hash, run_at, outcome, "
    "duration_s, message, run_kind FROM results ORDER BY report_id, ordinal"
)


class HistoryError(Exception):
    """The history cannot be used (a newer format, not a history database, not writable, not reachable)."""


@dataclass(frozen=True)
class HistoryRow:
    test_id: str
    file: str | None
    name: str
    class_name: str | None
    code_version: str | None
    test_hash: str | None
    run_at: float
    outcome: Outcome
    duration_s: float | None
    message: str
    run_kind: str
    report_id: int
    ordinal: int


@dataclass(frozen=True)
class StoredResult:
    """One test's outcome as the history keeps it (its report's own key aside)."""

    ordinal: int
    test_id: str
    file: str | None
    name: str
    class_name: str | None
    code_version: str | None
    test_hash: str | None
    run_at: float
    outcome: Outcome
    duration_s: float | None
    message: str
    run_kind: str


@dataclass(frozen=True)
class StoredReport:
    """A report and its results: the unit that is added (once, by digest), exported and imported."""

    digest: str
    source: str
    ingested_at: float
    run_kind: str
    code_version: str | None
    results: tuple[StoredResult, ...]


@dataclass(frozen=True)
class IngestResult:
    source: str
    added: int
    """Results stored; 0 when the report was already in the history."""
    already_known: bool


class HistoryStore(abc.ABC):
    """Where the test history lives. Every method may raise HistoryError, with a message fit to show."""

    location: str
    """Where it is, for messages: a file path, or a database URL with its password hidden."""

    @abc.abstractmethod
    def check_writable(self) -> None:
        """Raise HistoryError unless results can be stored (making the store if needed): a rerun asks
        before it runs anything, so an unwritable history does not lose a finished run's results."""

    @abc.abstractmethod
    def add(self, report: StoredReport) -> bool:
        """Store a report with its results in one transaction; False (and nothing stored) when a report
        with its digest is already there."""

    @abc.abstractmethod
    def rows(self, test_ids: Sequence[str] | None = None) -> list[HistoryRow]:
        """Results in the order they happened (per report, in the order the tests ran)."""

    @abc.abstractmethod
    def stamp(self) -> tuple[int, int]:
        """Changes whenever anything was added, to know when to score again; (0, 0) when empty."""

    @abc.abstractmethod
    def reports(self) -> Iterator[StoredReport]:
        """Every report with its results, oldest first (for export)."""

    @abc.abstractmethod
    def schema_version(self) -> int:
        """The schema version the store is at (after bringing it up to date)."""

    def close(self) -> None:  # noqa: B027 - a file-backed store holds nothing open between calls
        """Release connections; the store may not be used afterwards."""

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def ingest(
        self,
        report: JUnitReport,
        root: Path,
        *,
        run_kind: str = "ingested",
        version: str | None = None,
        sources: TestSources | None = None,
        run_at: float | None = None,
    ) -> IngestResult:
        """Store every case of `report` (once: a known report adds nothing).

        A truncated report is refused: remembering its digest with part of its results would count the
        same run again once the complete file (other bytes, another digest) is read."""
        if run_kind not in RUN_KINDS:
            raise ValueError(f"unknown run kind {run_kind!r}")
        if report.truncated:
            raise ValueError(f"{report.source}: a truncated report is not ingested")
        sources = sources or TestSources(root)
        now = time.time()
        results = []
        for ordinal, case in enumerate(report.cases):
            identity = identify(case, root)
            stamp = run_at or case.suite_timestamp or now
            results.append(
                StoredResult(ordinal, identity.test_id, identity.file, identity.name, identity.class_name, version,
                             sources.test_hash(identity), stamp + ordinal * 1e-6, case.outcome, case.duration_s,
                             case.message, run_kind)
            )  # fmt: skip
        stored = StoredReport(report.digest, report.source, now, run_kind, version, tuple(results))
        if not self.add(stored):
            return IngestResult(report.source, 0, already_known=True)
        return IngestResult(report.source, len(results), already_known=False)


def report_parameters(report: StoredReport) -> tuple[object, ...]:
    return (report.digest, report.source, report.ingested_at, report.run_kind, report.code_version)


def result_parameters(report_id: int, result: StoredResult) -> tuple[object, ...]:
    return (report_id, result.ordinal, result.test_id, result.file, result.name, result.class_name,
            result.code_version, result.test_hash, result.run_at, result.outcome.value, result.duration_s,
            result.message, result.run_kind)  # fmt: skip


def history_row(r: Sequence[object]) -> HistoryRow:
    return HistoryRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], Outcome(r[7]), r[8], r[9], r[10], r[11], r[12])  # type: ignore[arg-type]


def grouped_reports(reports: Sequence[Sequence[object]], results: Iterator[Sequence[object]]) -> Iterator[StoredReport]:
    """Reports (SELECT_REPORTS rows) joined with their results (SELECT_RESULTS_BY_REPORT rows)."""
    by_report: dict[object, list[StoredResult]] = {}
    for r in results:
        by_report.setdefault(r[0], []).append(
            StoredResult(r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], Outcome(r[9]), r[10], r[11], r[12])  # type: ignore[arg-type]
        )
    for report_id, digest, source, ingested_at, run_kind, version in reports:
        yield StoredReport(digest, source, ingested_at, run_kind, version, tuple(by_report.get(report_id, ())))  # type: ignore[arg-type]


class SqliteHistory(HistoryStore):
    """The history in one SQLite file: the default, for one machine."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)

    @classmethod
    def for_workspace(cls, root: Path, index_dir: str) -> SqliteHistory:
        return cls(root / index_dir / HISTORY_FILE)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            make_state_folder(self.path.parent)
        except OSError as error:  # a read-only checkout, a file where the folder should be
            raise HistoryError(
                f"{self.path.parent}: cannot create the folder for the test history ({error.strerror or error})"
            ) from error
        try:
            # Autocommit: transactions are opened explicitly (BEGIN IMMEDIATE), so two writers queue on
            # the busy timeout instead of failing on a read lock that cannot be upgraded.
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as error:
            raise HistoryError(f"{self.path}: cannot open the test history ({error})") from error
        try:
            connection.execute("PRAGMA synchronous=FULL")
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise HistoryError(newer_schema_message(str(self.path), version))
            if version < SCHEMA_VERSION:
                if version == 0:
                    connection.execute("PRAGMA journal_mode=WAL")  # persistent: set once, when the file is made
                with _transaction(connection):
                    # Read again under the write lock: another process may have upgraded it meanwhile.
                    version = connection.execute("PRAGMA user_version").fetchone()[0]
                    if version > SCHEMA_VERSION:
                        raise HistoryError(newer_schema_message(str(self.path), version))
                    for statement in migration_steps(SQLITE, version):
                        connection.execute(statement)
                    connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            yield connection
        except sqlite3.OperationalError as error:  # read-only, locked for longer than the timeout, ...
            raise HistoryError(f"{self.path}: cannot use the test history ({error})") from error
        except sqlite3.DatabaseError as error:
            raise HistoryError(f"{self.path}: not a usable test history ({error})") from error
        finally:
            connection.close()

    def check_writable(self) -> None:
        with self._connect() as connection, _transaction(connection):
            pass

    def add(self, report: StoredReport) -> bool:
        with self._connect() as connection, _transaction(connection):
            inserted = connection.execute(INSERT_REPORT, report_parameters(report)).fetchone()
            if inserted is None:
                return False
            connection.executemany(INSERT_RESULT, [result_parameters(inserted[0], r) for r in report.results])
        return True

    def rows(self, test_ids: Sequence[str] | None = None) -> list[HistoryRow]:
        if not self.path.exists():
            return []
        query = f"SELECT {ROW_COLUMNS} FROM results"
        parameters: tuple[str, ...] = ()
        if test_ids is not None:
            query += f" WHERE test_id IN ({', '.join('?' * len(test_ids))})"
            parameters = tuple(test_ids)
        query += " ORDER BY run_at, report_id, ordinal"
        with self._connect() as connection:
            return [history_row(r) for r in connection.execute(query, parameters)]

    def stamp(self) -> tuple[int, int]:
        """(reports, results)."""
        if not self.path.exists():
            return (0, 0)
        with self._connect() as connection:
            reports = connection.execute("SELECT COUNT(*) FROM reports").fetchone()[0]
            results = connection.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        return (reports, results)

    def reports(self) -> Iterator[StoredReport]:
        if not self.path.exists():
            return iter(())
        with self._connect() as connection:
            reports = connection.execute(SELECT_REPORTS).fetchall()
            return iter(list(grouped_reports(reports, connection.execute(SELECT_RESULTS_BY_REPORT))))

    def schema_version(self) -> int:
        with self._connect() as connection:
            return int(connection.execute("PRAGMA user_version").fetchone()[0])


History = SqliteHistory
"""The name the SQLite history had before there were two backends."""


@contextlib.contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
