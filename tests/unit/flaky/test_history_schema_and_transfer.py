"""One schema for both backends (upgraded in place, a newer one refused), no password in any message or
log, and `aqe flaky export/import` moving a history SQLite -> PostgreSQL -> SQLite unchanged."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from history_reports import make_project, verdicts_of, write_reports

from aqe.cli import main
from aqe.flaky.history import HistoryError, SqliteHistory
from aqe.flaky.history_url import open_history, redact_text, redact_url
from aqe.flaky.junit import read_junit
from aqe.flaky.postgres import PostgresHistory
from aqe.flaky.runs import ingest_reports
from aqe.flaky.schema import SCHEMA_VERSION
from aqe.flaky.transfer import TransferError, import_history

SERVER = Path(__file__).resolve().parents[3] / "server"

VERSION_1_SQLITE = """
CREATE TABLE reports (id INTEGER PRIMARY KEY, digest TEXT NOT NULL UNIQUE, source TEXT NOT NULL,
    ingested_at REAL NOT NULL, run_kind TEXT NOT NULL, code_version TEXT);
CREATE TABLE results (id INTEGER PRIMARY KEY, report_id INTEGER NOT NULL REFERENCES reports(id),
    ordinal INTEGER NOT NULL, test_id TEXT NOT NULL, file TEXT, name TEXT NOT NULL, class_name TEXT,
    code_version TEXT, test_hash TEXT, run_at REAL NOT NULL, outcome TEXT NOT NULL, duration_s REAL,
    message TEXT NOT NULL, run_kind TEXT NOT NULL, UNIQUE (report_id, ordinal));
CREATE INDEX results_by_test ON results (test_id, code_version, test_hash);
INSERT INTO reports VALUES (1, 'd1', 'old.xml', 1.0, 'ingested', 'v1');
INSERT INTO results VALUES (1, 1, 0, 'tests/test_app.py::test_total', 'tests/test_app.py', 'test_total', NULL,
    'v1', NULL, 1.0, 'passed', 0.1, '', 'ingested');
PRAGMA user_version = 1;
"""
"""A history file as aqe wrote it before the schema had a second version."""


def test_a_version_1_history_file_is_upgraded_in_place_and_keeps_its_results(tmp_path):
    path = tmp_path / "flaky-history.sqlite3"
    connection = sqlite3.connect(path)
    connection.executescript(VERSION_1_SQLITE)
    connection.close()
    history = SqliteHistory(path)
    assert [row.test_id for row in history.rows()] == ["tests/test_app.py::test_total"]
    assert history.schema_version() == SCHEMA_VERSION == 2
    connection = sqlite3.connect(path)
    indexes = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "results_in_run_order" in indexes


def test_postgresql_applies_the_same_migrations_and_upgrades_in_place(postgres_url):
    assert PostgresHistory(postgres_url).schema_version() == SCHEMA_VERSION
    with psycopg.connect(postgres_url) as connection:  # back to version 1, as an older aqe left it
        connection.execute("DROP INDEX aqe_flaky.results_in_run_order")
        connection.execute("UPDATE aqe_flaky.schema_version SET version = 1")
    assert PostgresHistory(postgres_url).schema_version() == SCHEMA_VERSION
    with psycopg.connect(postgres_url) as connection:
        found = connection.execute("SELECT to_regclass('aqe_flaky.results_in_run_order')").fetchone()
    assert found is not None and found[0] is not None


def test_a_newer_postgresql_schema_is_refused_and_left_alone(postgres_url):
    PostgresHistory(postgres_url).schema_version()
    with psycopg.connect(postgres_url) as connection:
        connection.execute("UPDATE aqe_flaky.schema_version SET version = 99")
    with pytest.raises(HistoryError, match=r"newer aqe \(history format 99, this aqe knows up to 2\)"):
        PostgresHistory(postgres_url).rows()
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT version FROM aqe_flaky.schema_version").fetchall() == [(99,)]


def test_urls_and_driver_messages_lose_their_password():
    url = "postgresql://ci:s%40cret@db.example:6543/aqe?sslmode=require&password=other"
    assert redact_url(url) == "postgresql://ci:***@db.example:6543/aqe?sslmode=require&password=***"
    assert redact_url("postgresql://db.example/aqe") == "postgresql://db.example/aqe"
    text = 'failed for "postgresql://ci:s%40cret@db.example" with s@cret, password=other'
    assert redact_text(text, url) == 'failed for "postgresql://ci:***@db.example" with ***, password=***'


def test_a_url_that_is_not_postgresql_is_refused_without_repeating_its_password(tmp_path):
    with pytest.raises(HistoryError, match=r"expected a postgresql:// URL, got 'mysql://ci:\*\*\*@db/aqe'"):
        open_history(tmp_path, ".aqe", "mysql://ci:hunter2@db/aqe")
    with pytest.raises(HistoryError, match="expected a postgresql:// URL") as caught:
        open_history(tmp_path, ".aqe", "postgresql://ci:hunter2@[::1/aqe")  # not even a URL
    assert "hunter2" not in str(caught.value)


def test_the_password_never_appears_in_messages_or_logs(tmp_path, postgres_url, postgres_server, caplog):
    caplog.set_level(logging.DEBUG)
    project = make_project(tmp_path / "project")
    (report,) = write_reports(tmp_path / "reports", range(1))
    password = postgres_server.password
    messages: list[str] = []
    with PostgresHistory(postgres_url) as history:
        history.ingest(read_junit(report), project, version="v1")
        messages.append(history.location)
    unreachable = postgres_url.replace(f":{postgres_server.port}/", ":1/")
    wrong_password = postgres_url.replace(password, password[::-1])
    for url in (unreachable, wrong_password):
        with pytest.raises(HistoryError) as caught:
            PostgresHistory(url).rows()
        messages.append(str(caught.value))
    assert "host 127.0.0.1, port 1" in messages[1] and "Connection refused" in messages[1]
    assert "password authentication failed" in messages[2]
    environment = {
        **os.environ,
        "AQE_FLAKY_HISTORY_URL": unreachable,
        "PYTHONPATH": str(SERVER),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    cli = subprocess.run(
        [sys.executable, "-m", "aqe", "flaky", "--root", str(project), "ingest", str(report)],
        capture_output=True, text=True, env=environment, timeout=120,
    )  # fmt: skip
    assert cli.returncode == 1 and "Traceback" not in cli.stderr and "port 1" in cli.stderr
    everything = "\n".join([*messages, cli.stdout, cli.stderr, caplog.text, postgres_server.server_log()])
    assert password not in everything and password[::-1] not in everything
    assert "postgresql://aqe:***@127.0.0.1" in everything


def _cli(*arguments: str) -> int:
    return main(["flaky", *arguments])


def test_export_and_import_move_a_history_sqlite_to_postgresql_to_sqlite(tmp_path, postgres_url, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    project = make_project(tmp_path / "project")
    other = make_project(tmp_path / "other-laptop")
    ingest_reports(
        SqliteHistory.for_workspace(project, ".aqe"), project, write_reports(tmp_path / "r", range(40)), "v1"
    )
    first, second, third = tmp_path / "first.jsonl", tmp_path / "second.jsonl", tmp_path / "third.jsonl"

    assert _cli("--root", str(project), "export", "-o", str(first)) == 0
    monkeypatch.setenv("AQE_FLAKY_HISTORY_URL", postgres_url)
    assert _cli("--root", str(project), "import", str(first)) == 0
    assert _cli("--root", str(project), "import", str(first)) == 0  # again: every report already there
    assert _cli("--root", str(project), "export", "-o", str(second)) == 0
    capsys.readouterr()
    assert _cli("--root", str(project), "report", "--format", "json") == 0  # the verdicts, from PostgreSQL
    reported = {test["testId"]: test["verdict"] for test in json.loads(capsys.readouterr().out)["tests"]}
    assert reported["tests/test_app.py::test_coin"] == "flaky" and len(reported) == 6
    assert _cli("--root", str(other), "import", "--local", str(second)) == 0
    assert _cli("--root", str(other), "export", "--local", "-o", str(third)) == 0

    original = verdicts_of(SqliteHistory.for_workspace(project, ".aqe"), project)
    with PostgresHistory(postgres_url) as postgres:
        assert verdicts_of(postgres, project) == original
        assert postgres.stamp()[0] == 40
    assert verdicts_of(SqliteHistory.for_workspace(other, ".aqe"), project) == original
    assert first.read_text() == second.read_text() == third.read_text()
    assert first.read_text().splitlines()[0] == '{"format": "aqe-flaky-history", "version": 1}'


def test_an_export_from_a_newer_aqe_or_a_damaged_line_is_refused_before_anything_is_added(tmp_path):
    history = SqliteHistory(tmp_path / "h.sqlite3")
    with pytest.raises(TransferError, match="export format 2 is newer"):
        import_history(history, ['{"format": "aqe-flaky-history", "version": 2}\n'])
    good = json.dumps(
        {"digest": "d", "source": "r.xml", "ingestedAt": 1.0, "runKind": "ingested", "codeVersion": None, "results": []}
    )
    with pytest.raises(TransferError, match="line 3: not JSON"):
        import_history(history, ['{"format": "aqe-flaky-history", "version": 1}\n', good + "\n", "{oops\n"])
    assert history.stamp() == (0, 0)
