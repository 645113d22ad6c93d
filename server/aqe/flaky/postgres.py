"""The test history in PostgreSQL, shared by a team's CI jobs and editors (`flakyHistoryUrl`).

Tables live in their own schema (`aqe_flaky`), so the history can share a database with anything
else. The schema is brought up to date on first use, under an advisory lock so that twenty jobs
starting at once migrate it once. Connections come from a psycopg pool, checked before each use: a
server that restarted or failed over is reconnected to. Once the server has been reached, an
operation that loses it is retried for `patience_s` and then fails loudly; a report's row and its
results are one transaction and its digest a unique key (ON CONFLICT DO NOTHING), so a retry after a
commit whose answer was lost finds the report already there instead of counting it twice. A server
that cannot be reached at all is an immediate, clear error naming the host and port, never the
password.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from aqe.flaky.history import (
    INSERT_REPORT,
    INSERT_RESULT,
    ROW_COLUMNS,
    SELECT_REPORTS,
    SELECT_RESULTS_BY_REPORT,
    HistoryError,
    HistoryRow,
    HistoryStore,
    StoredReport,
    grouped_reports,
    history_row,
    report_parameters,
    result_parameters,
)
from aqe.flaky.history_url import redact_text, redact_url
from aqe.flaky.schema import POSTGRES, SCHEMA_VERSION, migration_steps, newer_schema_message

log = logging.getLogger(__name__)

SCHEMA = "aqe_flaky"
_MIGRATION_LOCK = 0x61716566  # "aqef": one advisory lock key for every aqe migrating a database
_Result = TypeVar("_Result")


def _postgres(statement: str) -> str:
    """The shared statements use SQLite's `?` placeholders; psycopg's are `%s`."""
    return statement.replace("?", "%s")


class PostgresHistory(HistoryStore):
    def __init__(
        self, url: str, *, patience_s: float = 30.0, connect_timeout_s: int = 10, max_connections: int = 4
    ) -> None:
        self._url = url
        self.location = redact_url(url)
        self._patience_s = patience_s
        self._connect_timeout_s = connect_timeout_s
        self._max_connections = max_connections
        self._pool: ConnectionPool | None = None
        self._version: int | None = None
        self._closed = False
        self._lock = threading.Lock()

    # --- connections ------------------------------------------------------------------------------

    def _server(self) -> str:
        try:
            parts = conninfo_to_dict(self._url)
        except psycopg.Error:
            return "an unreadable URL"
        return f"host {parts.get('host') or 'localhost'}, port {parts.get('port') or 5432}"

    def _connection_options(self) -> dict[str, object]:
        return {"connect_timeout": self._connect_timeout_s, "application_name": "aqe-flaky-history"}

    def _ready_pool(self) -> ConnectionPool:
        """The pool, opened once the schema is known to be current (a direct connection, so that a
        server that cannot be reached is reported as the driver says it, not as a pool timeout)."""
        with self._lock:
            if self._closed:
                raise HistoryError(f"{self.location}: this connection to the history was closed")
            if self._pool is None:
                with psycopg.connect(self._url, **self._connection_options()) as connection:  # type: ignore[arg-type]
                    self._version = self._migrate(connection)
                pool = ConnectionPool(
                    self._url,
                    kwargs=self._connection_options(),
                    min_size=1,
                    max_size=self._max_connections,
                    open=False,
                    configure=_use_schema,
                    check=ConnectionPool.check_connection,
                    name="aqe-flaky-history",
                )
                pool.open(wait=True, timeout=self._connect_timeout_s)
                self._pool = pool
            return self._pool

    def _migrate(self, connection: psycopg.Connection) -> int:
        with connection.transaction():
            version = _stored_version(connection)
            if version == SCHEMA_VERSION:
                return version
            if version > SCHEMA_VERSION:
                raise HistoryError(newer_schema_message(self.location, version))
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            connection.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            connection.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_version (version INTEGER NOT NULL)")
            version = _stored_version(connection)  # again, under the lock: another job may have migrated
            if version > SCHEMA_VERSION:
                raise HistoryError(newer_schema_message(self.location, version))
            connection.execute(f"SET LOCAL search_path TO {SCHEMA}")
            for statement in migration_steps(POSTGRES, version):
                connection.execute(statement)  # type: ignore[arg-type]
            connection.execute("DELETE FROM schema_version")
            connection.execute("INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION,))
        if version < SCHEMA_VERSION:
            log.info("flaky history %s: schema upgraded from %d to %d", self.location, version, SCHEMA_VERSION)
        return SCHEMA_VERSION

    def _run(self, what: str, action: Callable[[psycopg.Connection], _Result]) -> _Result:
        """`action` on a pooled connection, retried while a server once reached is away (a restart)."""
        deadline = time.monotonic() + self._patience_s
        delay = 0.1
        while True:
            reached_before = self._pool is not None
            try:
                with self._ready_pool().connection(timeout=self._connect_timeout_s) as connection:
                    return action(connection)
            except psycopg.OperationalError as error:  # refused, reset, shut down, timed out in the pool
                reason = redact_text(" ".join(str(error).split()), self._url)
                if not reached_before or time.monotonic() + delay > deadline:
                    raise HistoryError(
                        f"cannot reach the flaky-test history at {self.location} ({self._server()}): {reason}"
                    ) from None
                log.warning("flaky history %s: %s; retrying %s", self.location, reason, what)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            except psycopg.Error as error:
                reason = redact_text(" ".join(str(error).split()), self._url)
                raise HistoryError(f"{self.location}: {what} failed ({reason})") from None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    # --- the history --------------------------------------------------------------------------------

    def check_writable(self) -> None:
        def probe(connection: psycopg.Connection) -> None:
            with connection.transaction(force_rollback=True):
                connection.execute("LOCK TABLE reports IN ROW EXCLUSIVE MODE NOWAIT")

        self._run("checking write access", probe)

    def add(self, report: StoredReport) -> bool:
        def insert(connection: psycopg.Connection) -> bool:
            with connection.transaction():
                inserted = connection.execute(_postgres(INSERT_REPORT), report_parameters(report)).fetchone()  # type: ignore[arg-type]
                if inserted is None:
                    return False
                with connection.cursor() as cursor:
                    cursor.executemany(
                        _postgres(INSERT_RESULT),  # type: ignore[arg-type]
                        [result_parameters(inserted[0], result) for result in report.results],
                    )
            return True

        return self._run(f"storing {report.source}", insert)

    def rows(self, test_ids: Sequence[str] | None = None) -> list[HistoryRow]:
        query = f"SELECT {ROW_COLUMNS} FROM results"
        parameters: tuple[object, ...] = ()
        if test_ids is not None:
            query += " WHERE test_id = ANY(%s)"
            parameters = (list(test_ids),)
        query += " ORDER BY run_at, report_id, ordinal"

        def select(connection: psycopg.Connection) -> list[HistoryRow]:
            with connection.cursor(binary=True) as cursor:
                return [history_row(r) for r in cursor.execute(query, parameters)]  # type: ignore[arg-type]

        return self._run("reading the history", select)

    def stamp(self) -> tuple[int, int]:
        """(reports, the newest result's key): a maximum on the key, not a count, since a team's
        history is polled by every open editor."""

        def select(connection: psycopg.Connection) -> tuple[int, int]:
            row = connection.execute(
                "SELECT (SELECT COUNT(*) FROM reports), (SELECT COALESCE(MAX(id), 0) FROM results)"
            ).fetchone()
            return (int(row[0]), int(row[1])) if row else (0, 0)

        return self._run("reading the history", select)

    def reports(self) -> Iterator[StoredReport]:
        def select(connection: psycopg.Connection) -> list[StoredReport]:
            with connection.transaction():  # one snapshot: no results without their report
                connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                reports = connection.execute(SELECT_REPORTS).fetchall()
                return list(grouped_reports(reports, iter(connection.execute(SELECT_RESULTS_BY_REPORT))))

        return iter(self._run("reading the history", select))

    def schema_version(self) -> int:
        return self._run("reading the schema version", lambda connection: _stored_version(connection))


def _use_schema(connection: psycopg.Connection) -> None:
    connection.execute(f"SET search_path TO {SCHEMA}")
    connection.commit()


def _stored_version(connection: psycopg.Connection) -> int:
    exists = connection.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.schema_version",)).fetchone()
    if exists is None or exists[0] is None:
        return 0
    row = connection.execute(f"SELECT MAX(version) FROM {SCHEMA}.schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0
