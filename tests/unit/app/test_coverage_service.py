"""Coverage behind both front doors: what one measures and keeps, the other's store reads."""

from __future__ import annotations

import textwrap
from pathlib import Path

from aqe.app.coverage import CoverageService, coverage_store, kept_measurement
from aqe.app.project import Project, SandboxLimits
from aqe.config import Settings


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "src").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text("[tool.aqe]\nsandboxTimeoutS = 120\n")
    (root / "src" / "calc.py").write_text(textwrap.dedent("""\
        def classify(n):
            if n < 0:
                return "negative"
            return "positive"
        """))  # fmt: skip
    (root / "tests" / "test_calc.py").write_text(
        "from calc import classify\n\ndef test_positive():\n    assert classify(1) == 'positive'\n"
    )
    return root.resolve()


def test_a_measured_suite_is_kept_where_the_editors_store_reads_it(tmp_path: Path):
    root = _project(tmp_path)
    project = Project.load(root)
    run = CoverageService(project).measure_suite()

    assert run.sandbox.exit_code == 0, run.sandbox.stderr_tail
    assert kept_measurement(root, project.settings).is_file()
    editor_store = coverage_store([root], project.settings)  # what the language server builds
    editor_store.refresh()
    assert kept_measurement(root, project.settings) in editor_store.sources
    assert any(str(coverage.path).endswith("calc.py") for coverage in editor_store.files())


def test_the_sandbox_limits_come_from_the_settings_in_one_place(tmp_path: Path):
    root = _project(tmp_path)
    limits = Project.load(root).sandbox_limits()
    assert limits == SandboxLimits(120.0, Settings().sandbox_memory_mb * 1024 * 1024, False)
