"""A small project measured by the real coverage.py once per session, in every format it writes."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# The same small module the e2e coverage workspace measures: one copy, so the two cannot drift apart.
CALC = (Path(__file__).parents[2] / "workspaces" / "covered" / "src" / "calc" / "ops.py").read_text()

DRIVER = "import calc\ncalc.add(1, 2)\ncalc.classify(5)\n"


@dataclass(frozen=True)
class MeasuredProject:
    root: Path
    source: Path
    data_file: Path
    json_report: Path
    xml_report: Path
    lcov_report: Path


def _coverage(root: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "coverage", *args], cwd=root, check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def measured(tmp_path_factory) -> MeasuredProject:
    root = tmp_path_factory.mktemp("measured").resolve()
    (root / "src").mkdir()
    source = root / "src" / "calc.py"
    source.write_text(CALC)
    (root / "drive.py").write_text("import sys\nsys.path.insert(0, 'src')\n" + DRIVER)
    _coverage(root, "run", "--branch", "--include=src/*", "drive.py")
    _coverage(root, "json", "-o", "coverage.json")
    _coverage(root, "xml", "-o", "coverage.xml")
    _coverage(root, "lcov", "-o", "lcov.info")
    return MeasuredProject(
        root, source, root / ".coverage", root / "coverage.json", root / "coverage.xml", root / "lcov.info"
    )
