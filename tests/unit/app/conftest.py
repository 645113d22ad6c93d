from __future__ import annotations

import shutil
from pathlib import Path

import pytest

SHOP = Path(__file__).resolve().parents[3] / "examples" / "shop"


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A copy of the example project (its planted defects, tests and coverage data), without state."""
    root = tmp_path / "shop"
    shutil.copytree(SHOP, root, ignore=shutil.ignore_patterns(".aqe", "__pycache__"))
    return root.resolve()
