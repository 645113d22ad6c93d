"""Finding coverage files, re-reading them when they change, related tests, and measuring in the sandbox."""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
import venv
from pathlib import Path

import pytest

from aqe.coverage.measure import (
    CoverageRun,
    CoverageRunError,
    load_kept,
    measure,
    merge_measurement,
    write_durably,
)
from aqe.coverage.related import module_names, related_tests
from aqe.coverage.store import CoverageStore
from aqe.sandbox.runner import SandboxRefused, SandboxRunner


def _copy(measured, tmp_path: Path, *names: str) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    shutil.copy(measured.source, root / "src" / "calc.py")
    for name in names:
        shutil.copy(measured.root / name, root / name)
    return root.resolve()


def test_the_usual_file_names_are_found_without_configuration(measured, tmp_path):
    root = _copy(measured, tmp_path, "coverage.xml", "lcov.info")
    (root / "coverage").mkdir()
    shutil.copy(measured.lcov_report, root / "coverage" / "lcov.info")
    store = CoverageStore([root])
    assert sorted(p.relative_to(root).as_posix() for p in store.discover()) == [
        "coverage.xml",
        "coverage/lcov.info",
        "lcov.info",
    ]


def test_configured_patterns_replace_the_usual_names(measured, tmp_path):
    root = _copy(measured, tmp_path, "coverage.xml")
    (root / "reports").mkdir()
    shutil.copy(measured.json_report, root / "reports" / "py-cov.json")
    store = CoverageStore([root], patterns=["reports/*.json"])
    assert [p.name for p in store.discover()] == ["py-cov.json"]


def test_a_changed_coverage_file_is_read_again_and_an_unchanged_one_is_not(measured, tmp_path):
    root = _copy(measured, tmp_path, "coverage.json")
    store = CoverageStore([root])
    assert store.refresh() is True
    calc = root / "src" / "calc.py"
    assert store.file_coverage(calc).missing == {7, 9, 14, 15}
    assert store.refresh() is False
    document = json.loads((root / "coverage.json").read_text())
    entry = next(iter(document["files"].values()))
    entry["missing_lines"], entry["executed_lines"] = [14, 15], [1, 2, 5, 6, 7, 8, 9, 10, 13]
    (root / "coverage.json").write_text(json.dumps(document))
    generation = store.generation
    assert store.refresh() is True
    assert store.generation == generation + 1
    assert store.file_coverage(calc).missing == {14, 15}


def test_a_damaged_file_is_a_problem_and_the_others_still_count(measured, tmp_path):
    root = _copy(measured, tmp_path, "lcov.info")
    (root / "coverage.xml").write_text("<coverage><packages><package")
    store = CoverageStore([root])
    store.refresh()
    assert any("coverage.xml" in problem for problem in store.problems)
    assert store.file_coverage(root / "src" / "calc.py") is not None


def test_a_removed_coverage_file_takes_its_data_with_it(measured, tmp_path):
    root = _copy(measured, tmp_path, "coverage.json")
    store = CoverageStore([root])
    store.refresh()
    (root / "coverage.json").unlink()
    assert store.refresh() is True
    assert store.file_coverage(root / "src" / "calc.py") is None


def _shop(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    files = {
        "src/shop/__init__.py": "from .cart import Cart\n",
        "src/shop/cart.py": "class Cart:\n    pass\n",
        "src/shop/money.py": "def cents(x):\n    return x\n",
        "tests/test_cart.py": "from shop import Cart\n\ndef test_cart():\n    assert Cart()\n",
        "tests/test_money.py": "from shop.money import cents\n\ndef test_cents():\n    assert cents(1) == 1\n",
        "tests/test_other.py": "import json\n\ndef test_json():\n    assert json.dumps(1) == '1'\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_module_names_cover_every_way_a_file_can_be_imported(tmp_path):
    assert module_names(tmp_path / "src" / "shop" / "cart.py", tmp_path) == {"src.shop.cart", "shop.cart", "cart"}


def test_related_tests_are_the_ones_that_import_the_module(tmp_path):
    root = _shop(tmp_path)
    files = sorted(root.rglob("*.py"))
    assert related_tests(root / "src/shop/money.py", root, files) == [root / "tests/test_money.py"]


def test_a_package_that_re_exports_the_module_makes_its_importers_related(tmp_path):
    root = _shop(tmp_path)
    files = sorted(root.rglob("*.py"))
    assert related_tests(root / "src/shop/cart.py", root, files) == [root / "tests/test_cart.py"]


def test_a_test_file_is_its_own_related_test_and_the_index_can_add_more(tmp_path):
    root = _shop(tmp_path)
    files = sorted(root.rglob("*.py"))
    assert related_tests(root / "tests/test_other.py", root, files) == [root / "tests/test_other.py"]
    more = related_tests(root / "src/shop/money.py", root, files, more_related=lambda _: [root / "tests/test_other.py"])
    assert more == [root / "tests/test_money.py", root / "tests/test_other.py"]


def _project_with_tests(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "src").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["src"]\n')
    (root / "src" / "calc.py").write_text(
        textwrap.dedent(
            """\
            def classify(n):
                if n < 0:
                    return "negative"
                return "positive"
            """
        )
    )
    (root / "tests" / "test_calc.py").write_text(
        "from calc import classify\n\ndef test_positive():\n    assert classify(1) == 'positive'\n"
    )
    return root.resolve()


def test_measuring_runs_the_tests_with_coverage_in_the_sandbox(tmp_path):
    root = _project_with_tests(tmp_path)
    run = measure(
        root,
        [root / "tests" / "test_calc.py"],
        SandboxRunner(trusted=True),
        sys.executable,
        timeout_s=120,
        memory_bytes=None,
        allow_network=False,
    )
    assert run.sandbox.exit_code == 0, run.sandbox.stderr_tail
    entry = run.report["files"]["src/calc.py"]
    assert entry["missing_lines"] == [3]
    assert not (root / ".aqe-coverage-data").exists()  # it all happened in the sandbox's copy


def test_measuring_an_untrusted_workspace_runs_nothing(tmp_path):
    root = _project_with_tests(tmp_path)
    with pytest.raises(SandboxRefused):
        measure(root, [root / "tests"], SandboxRunner(trusted=False), sys.executable, timeout_s=60,
                memory_bytes=None, allow_network=False)  # fmt: skip


def test_an_interpreter_without_coverage_is_a_clear_error(tmp_path):
    root = _project_with_tests(tmp_path)
    # A project's own virtual environment without coverage.py: the box shows it (read-only) to the run.
    venv.EnvBuilder(with_pip=False).create(tmp_path / "venv-without-coverage")
    python = tmp_path / "venv-without-coverage" / "bin" / "python"
    with pytest.raises(CoverageRunError, match=r"coverage\.py is not installed"):
        measure(root, [root / "tests"], SandboxRunner(trusted=True), str(python), timeout_s=60,
                memory_bytes=None, allow_network=False)  # fmt: skip


def _run(files: dict) -> CoverageRun:
    return CoverageRun(("tests",), sandbox=None, report={"meta": {"version": "7"}, "files": files})  # type: ignore[arg-type]


def test_a_new_measurement_replaces_the_saved_file_and_keeps_fuller_data_of_others(tmp_path):
    root = tmp_path
    earlier = {"files": {"src/a.py": {"executed_lines": [1, 2]}, "src/b.py": {"executed_lines": [1, 2, 3]}}}
    run = _run({"src/a.py": {"executed_lines": [1]}, "src/b.py": {"executed_lines": [1]}, "src/c.py": {}})
    merged = merge_measurement(earlier, run, root, [root / "src" / "a.py"], {"src/a.py": "x = 1\n"})
    assert merged["files"]["src/a.py"] == {"executed_lines": [1]}
    assert merged["files"]["src/b.py"] == {"executed_lines": [1, 2, 3]}
    assert "src/c.py" in merged["files"]
    assert merged["aqe"]["lineHashes"]["src/a.py"] and merged["aqe"]["version"] == 1


def test_the_kept_measurement_is_written_durably_and_a_newer_format_is_not_overwritten(tmp_path):
    target = tmp_path / ".aqe" / "coverage.json"
    write_durably(target, {"files": {}, "aqe": {"version": 1}})
    assert load_kept(target) == {"files": {}, "aqe": {"version": 1}}
    assert sorted(p.name for p in target.parent.iterdir()) == [".gitignore", "coverage.json"]  # no temp file left
    write_durably(target, {"files": {}, "aqe": {"version": 99}})
    with pytest.raises(CoverageRunError, match="newer aqe"):
        load_kept(target)
    assert os.path.getsize(target) > 0


def test_a_src_layout_project_without_a_pythonpath_setting_imports_its_copy(tmp_path):
    """Such projects are installed editable into their own environment, which points at the real
    folder: the sandbox does not show it, so the copy's src/ must be on the path."""
    root = _project_with_tests(tmp_path)
    (root / "pyproject.toml").write_text("[project]\nname = 'calc'\nversion = '0'\n")
    run = measure(root, [root / "tests"], SandboxRunner(trusted=True), sys.executable, timeout_s=60,
                  memory_bytes=None, allow_network=False)  # fmt: skip
    assert run.sandbox.exit_code == 0, run.sandbox.stdout_tail + run.sandbox.stderr_tail
    assert any(name.endswith("calc.py") for name in run.report["files"])
