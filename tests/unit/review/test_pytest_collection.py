"""Specification of pytest's collection rules as aqe reads them from a project's configuration."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from aqe.review.pytest_collection import PytestCollection, collection_for


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_defaults_collect_test_modules_but_not_a_library_module_named_tests(tmp_path: Path) -> None:
    defaults = collection_for(str(tmp_path / "src" / "tests.py"))
    assert defaults == PytestCollection()
    assert not defaults.collects_file(str(tmp_path / "src" / "jinja_like" / "tests.py"))
    assert not defaults.collects_file(str(tmp_path / "tests" / "conftest.py"))
    assert not defaults.collects_file(str(tmp_path / "tests" / "helpers.py"))
    assert defaults.collects_file(str(tmp_path / "tests" / "test_api.py"))
    assert defaults.collects_file(str(tmp_path / "tests" / "api_test.py"))


def test_pyproject_testpaths_leave_benchmarks_and_typing_examples_out(tmp_path: Path) -> None:
    _write(
        tmp_path / "pyproject.toml",
        """
        [project]
        name = "lib"

        [tool.pytest.ini_options]
        testpaths = ["tests"]
        """,
    )
    collection = collection_for(str(tmp_path / "tests" / "test_core.py"))
    assert collection.rootdir == tmp_path
    assert collection.collects_file(str(tmp_path / "tests" / "unit" / "test_core.py"))
    assert not collection.collects_file(str(tmp_path / "bench" / "test_speed.py"))
    assert not collection.collects_file(str(tmp_path / "typing_examples" / "test_typing.py"))


def test_a_pyproject_without_a_pytest_table_does_not_stop_the_search(tmp_path: Path) -> None:
    _write(tmp_path / "setup.cfg", "[tool:pytest]\npython_files = check_*.py\n")
    _write(tmp_path / "pkg" / "pyproject.toml", '[project]\nname = "pkg"\n')
    collection = collection_for(str(tmp_path / "pkg" / "check_io.py"))
    assert collection.python_files == ("check_*.py",)
    assert collection.collects_file(str(tmp_path / "pkg" / "check_io.py"))
    assert not collection.collects_file(str(tmp_path / "pkg" / "test_io.py"))


def test_pytest_ini_wins_even_when_empty(tmp_path: Path) -> None:
    _write(tmp_path / "tox.ini", "[pytest]\npython_functions = should_*\n")
    _write(tmp_path / "pytest.ini", "[pytest]\n")
    assert collection_for(str(tmp_path / "test_x.py")).python_functions == ("test",)


def test_tox_ini_patterns_for_classes_functions_and_norecursedirs(tmp_path: Path) -> None:
    _write(
        tmp_path / "tox.ini",
        """
        [tox]
        envlist = py311

        [pytest]
        python_classes = *Tests Describe*
        python_functions = test_* it_*
        norecursedirs = fixtures .*
        """,
    )
    collection = collection_for(str(tmp_path / "t" / "test_a.py"))
    assert collection.collects_class("ParserTests") and collection.collects_class("DescribeParser")
    assert not collection.collects_class("TestParser")
    assert collection.collects_function("it_parses") and not collection.collects_function("testParse")
    assert not collection.collects_file(str(tmp_path / "t" / "fixtures" / "test_sample.py"))


def test_a_changed_config_is_read_again(tmp_path: Path) -> None:
    config = _write(tmp_path / "pytest.ini", "[pytest]\ntestpaths = tests\n")
    assert collection_for(str(tmp_path / "x" / "test_a.py")).testpaths == ("tests",)
    config.write_text("[pytest]\ntestpaths = tests/unit tests/integration\n")
    stat = config.stat()
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert collection_for(str(tmp_path / "x" / "test_a.py")).testpaths == ("tests/unit", "tests/integration")


def test_relative_paths_use_the_defaults() -> None:
    assert collection_for("tests/test_orders.py") == PytestCollection()
