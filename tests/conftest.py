"""Shared test setup: end-to-end tests (which start subprocesses) and editor tests run after the unit tests;
a real PostgreSQL server for the tests of the shared flaky history."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
WORKSPACES = TESTS / "workspaces"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_run_order)


def _run_order(item: pytest.Item) -> int:
    """Unit tests first, then end-to-end LSP tests, then the tests in real editors (the slowest)."""
    path = str(item.path).replace("\\", "/")
    return 2 if "/tests/clients/" in path else 1 if "/e2e/" in path else 0


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A real PostgreSQL server for the shared flaky history, started once and stopped at the end."""
    from postgres_server import find_server_binaries, start_server

    binaries = find_server_binaries()
    if binaries is None:
        pytest.skip(
            "no PostgreSQL server binaries (initdb, pg_ctl, postgres) under /usr/lib/postgresql/*/bin or on PATH: "
            "run scripts/install-postgres"
        )
    server = start_server(binaries)

    def stop() -> None:
        with contextlib.suppress(RuntimeError):  # already stopped by a test that failed half way
            server.stop()
        server.remove()

    request.addfinalizer(stop)
    return server


@pytest.fixture
def postgres_url(postgres_server) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A URL (with the server's password in it) to an empty database of its own."""
    import psycopg

    name = "aqe_test_" + uuid.uuid4().hex
    with psycopg.connect(postgres_server.url(), autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    yield postgres_server.url(name)
    with psycopg.connect(postgres_server.url(), autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]
