"""The test history: every outcome of every test aqe has seen, in SQLite under the workspace's
`indexDir` (`.aqe/flaky-history.sqlite3`).

SQLite gives the durability the project asks of its files (journalled, `synchronous=FULL`) and safe
use by two processes at once (an editor and a CI step). The schema is versioned with
`PRAGMA user_version`; a newer version's file is refused rather than written. A report is stored
with the sha256 of its bytes, so ingesting the same report again adds nothing.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from aqe.flaky.identity import TestSources, identify
from aqe.flaky.junit import JUnitReport, Outcome

SCHEMA_VERSION = 1
HISTORY_FILE = "flaky-history.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    ingested_at REAL NOT NULL,
    run_kind TEXT NOT NULL,
    code_version TEXT
);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY,
    report_id INTEGER NOT NULL REFERENCES reports(id),
    ordinal INTEGER NOT NULL,
    test_id TEXT NOT NULL,
    file TEXT,
    name TEXT NOT NULL,
    class_name TEXT,
    code_version TEXT,
    test_hash TEXT,
    run_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    duration_s REAL,
    message TEXT NOT NULL,
    run_kind TEXT NOT NULL,
    UNIQUE (report_id, ordinal)
);
CREATE INDEX IF NOT EXISTS results_by_test ON results (test_id, code_version, test_hash);
"""

RUN_KINDS = ("ingested", "suite", "shuffled", "isolated")


class HistoryError(Exception):
    """The history file cannot be used (a newer format, not a history database, not writable here)."""


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
class IngestResult:
    source: str
    added: int
    """Results stored; 0 when the report was already in the history."""
    already_known: bool


class History:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_workspace(cls, root: Path, index_dir: str) -> History:
        return cls(root / index_dir / HISTORY_FILE)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
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
                raise HistoryError(
                    f"{self.path} was written by a newer aqe (history format {version}); not changing it"
                )
            if version < SCHEMA_VERSION:
                connection.execute("PRAGMA journal_mode=WAL")  # persistent: set once, when the file is made
                with _transaction(connection):
                    for statement in filter(str.strip, _SCHEMA.split(";")):
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
        """Raise HistoryError unless results can be stored here (making the file if needed): a rerun asks
        before it runs anything, so an unwritable history does not lose a finished run's results."""
        with self._connect() as connection, _transaction(connection):
            pass

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
        with self._connect() as connection, _transaction(connection):
            known = connection.execute("SELECT id FROM reports WHERE digest = ?", (report.digest,)).fetchone()
            if known is not None:
                return IngestResult(report.source, 0, already_known=True)
            cursor = connection.execute(
                "INSERT INTO reports (digest, source, ingested_at, run_kind, code_version) VALUES (?, ?, ?, ?, ?)",
                (report.digest, report.source, now, run_kind, version),
            )
            report_id = cursor.lastrowid
            rows = []
            for ordinal, case in enumerate(report.cases):
                identity = identify(case, root)
                stamp = run_at or case.suite_timestamp or now
                rows.append(
                    (report_id, ordinal, identity.test_id, identity.file, identity.name, identity.class_name,
                     version, sources.test_hash(identity), stamp + ordinal * 1e-6, case.outcome.value,
                     case.duration_s, case.message, run_kind)
                )  # fmt: skip
            connection.executemany(
                "INSERT INTO results (report_id, ordinal, test_id, file, name, class_name, code_version, test_hash, "
                "run_at, outcome, duration_s, message, run_kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return IngestResult(report.source, len(rows), already_known=False)

    def rows(self, test_ids: Sequence[str] | None = None) -> list[HistoryRow]:
        """Results in the order they happened (per report, in the order the tests ran)."""
        if not self.path.exists():
            return []
        query = (
            "SELECT test_id, file, name, class_name, code_version, test_hash, run_at, outcome, duration_s, message, "
            "run_kind, report_id, ordinal FROM results"
        )
        parameters: tuple[str, ...] = ()
        if test_ids is not None:
            query += f" WHERE test_id IN ({', '.join('?' * len(test_ids))})"
            parameters = tuple(test_ids)
        query += " ORDER BY run_at, report_id, ordinal"
        with self._connect() as connection:
            return [
                HistoryRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], Outcome(r[7]), r[8], r[9], r[10], r[11], r[12])
                for r in connection.execute(query, parameters)
            ]

    def stamp(self) -> tuple[int, int]:
        """(reports, results): changes whenever anything was added, to know when to score again."""
        if not self.path.exists():
            return (0, 0)
        with self._connect() as connection:
            reports = connection.execute("SELECT COUNT(*) FROM reports").fetchone()[0]
            results = connection.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        return (reports, results)


@contextlib.contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
