"""Shared test setup: end-to-end tests (which start subprocesses) and editor tests run after the unit tests."""

from __future__ import annotations

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
