"""Shared test setup: end-to-end tests (which start subprocesses) run after the unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).parent
WORKSPACES = TESTS / "workspaces"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: "/e2e/" in str(item.path).replace("\\", "/"))
