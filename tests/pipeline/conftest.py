"""Fixtures of the pipeline-integration tests (helpers live in pipeline_support, importable by name)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_support import aqe_environment


@pytest.fixture
def aqe_on_path(tmp_path: Path) -> dict[str, str]:
    return aqe_environment(tmp_path)
