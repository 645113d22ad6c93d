"""The layering holds: import-linter's contracts (pyproject.toml) are kept, and a broken one fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(config: Path, cwd: Path, python_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
        cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(python_path), "LANG": "C.UTF-8"},
    )  # fmt: skip


def test_the_layering_contracts_are_kept():
    done = _lint(REPO / "pyproject.toml", REPO, REPO / "server")
    assert done.returncode == 0, done.stdout + done.stderr
    assert " broken" in done.stdout and "0 broken" in done.stdout


def test_a_feature_that_imports_a_front_door_breaks_the_contract(tmp_path: Path):
    package = tmp_path / "demo"
    (package / "features").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "lsp.py").write_text("")
    (package / "features" / "__init__.py").write_text("")
    (package / "features" / "rules.py").write_text("from demo import lsp\n")
    config = tmp_path / "contracts.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "demo"\n\n[[tool.importlinter.contracts]]\nname = "features stay down"\n'
        'type = "forbidden"\nsource_modules = ["demo.features"]\nforbidden_modules = ["demo.lsp"]\n'
    )
    done = _lint(config, tmp_path, tmp_path)
    assert done.returncode == 1 and "1 broken" in done.stdout, done.stdout + done.stderr
