"""QE101 on the shapes real suites have: what pytest collects, and assertions one call away."""

from __future__ import annotations

import textwrap
from pathlib import Path

from rule_helpers import covered_text, python_doc, run

from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language
from aqe.review.rules.python_tests import NoAssertionInTest


def _reported(doc: ParsedDocument) -> list[str]:
    return [covered_text(doc, f.span) for f in run(NoAssertionInTest, doc)]


def _project_doc(root: Path, relative: str, text: str) -> ParsedDocument:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return ParsedDocument.parse(str(path), path.read_text(), Language.PYTHON)


# --- what pytest collects ----------------------------------------------------------------------------


def test_functions_nested_in_a_test_are_not_tests() -> None:
    doc = python_doc(
        """
        def test_group_invokes_subcommand(runner):
            @cli.command()
            def test():
                pass

            def test1():
                print("sub")

            result = runner.invoke(cli, ["test"])
            assert result.exit_code == 0
        """
    )
    assert _reported(doc) == []


def test_a_library_module_named_tests_is_not_a_test_module() -> None:
    doc = python_doc(
        """
        def test_odd(value):
            return value % 2 == 1


        def test_defined(value):
            return not isinstance(value, Undefined)
        """,
        path="src/templating/tests.py",
    )
    assert _reported(doc) == []


def test_helpers_in_a_tests_folder_are_not_test_modules() -> None:
    doc = python_doc("def test_server(url):\n    start(url)\n", path="tests/helpers.py")
    assert _reported(doc) == []


def test_files_outside_testpaths_are_not_collected(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    bench = _project_doc(tmp_path, "bench/test_bench_parse.py", "def test_parse_big():\n    parse(BIG)\n")
    inside = _project_doc(tmp_path, "tests/test_parse.py", "def test_parse_big():\n    parse(BIG)\n")
    assert _reported(bench) == []
    assert _reported(inside) == ["test_parse_big"]


def test_the_projects_python_functions_pattern_decides(tmp_path: Path) -> None:
    (tmp_path / "setup.cfg").write_text("[tool:pytest]\npython_functions = should_*\n")
    doc = _project_doc(
        tmp_path,
        "tests/test_dates.py",
        """
        def test_like_helper(value):
            parse(value)


        def should_parse_iso_dates():
            parse("2024-01-01")
        """,
    )
    assert _reported(doc) == ["should_parse_iso_dates"]


def test_classes_with_init_or_not_matching_are_not_collected() -> None:
    doc = python_doc(
        """
        class TestCaseData:
            def __init__(self, value):
                self.value = value

            def test_value(self):
                render(self.value)


        class Helpers:
            def test_render(self):
                render("x")


        class TestRender:
            def test_renders(self):
                render("x")

            def helper_test(self):
                render("y")
        """
    )
    assert _reported(doc) == ["test_renders"]


def test_unittest_subclasses_are_collected_through_a_local_base() -> None:
    doc = python_doc(
        """
        import unittest


        class BaseCase(unittest.TestCase):
            def setUp(self):
                self.parser = Parser()


        class ParserChecks(BaseCase):
            def test_parses(self):
                self.parser.parse("x")
        """
    )
    assert _reported(doc) == ["test_parses"]


def test_dunder_test_false_opts_a_class_out() -> None:
    doc = python_doc(
        """
        class TestResult:
            __test__ = False

            def test_flag(self):
                return self.flag
        """
    )
    assert _reported(doc) == []


# --- assertions one call away -------------------------------------------------------------------------


def test_a_same_class_helper_that_asserts_counts() -> None:
    doc = python_doc(
        """
        class TestHumanize:
            def _test_common(self, value, expected):
                assert humanize(value) == expected

            def test_small(self):
                self._test_common(1, "1")

            def test_large(self):
                self._test_common(10**6, "1.0 million")
        """
    )
    assert _reported(doc) == []


def test_a_module_helper_two_levels_deep_counts() -> None:
    doc = python_doc(
        """
        def roundtrip(schema, value):
            _compare(schema.load(schema.dump(value)), value)


        def _compare(got, expected):
            assert got == expected


        def test_roundtrip_dates():
            roundtrip(DateSchema(), {"when": date(2024, 1, 1)})
        """
    )
    assert _reported(doc) == []


def test_a_conftest_helper_or_fixture_that_asserts_counts(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    _project_doc(
        tmp_path,
        "tests/conftest.py",
        """
        import pytest


        def assert_roundtrip(value):
            ...


        def compare_output(got, path):
            assert got == path.read_text()


        @pytest.fixture
        def no_warnings(recwarn):
            yield
            assert not recwarn.list
        """,
    )
    doc = _project_doc(
        tmp_path,
        "tests/test_render.py",
        """
        def test_render_page(tmp_path):
            compare_output(render("page"), tmp_path / "page.html")


        def test_render_quietly(no_warnings):
            render("page")


        def test_render_only():
            render("page")
        """,
    )
    assert _reported(doc) == ["test_render_only"]


def test_mock_assertions_of_every_kind_count() -> None:
    doc = python_doc(
        """
        def test_retries(client):
            fetch(client)
            client.get.assert_has_calls([call("/a"), call("/a")])


        def test_no_call(client):
            fetch_cached(client)
            client.get.assert_not_called()


        def test_any_call(hook):
            run(hook)
            hook.assert_any_call("start")
        """
    )
    assert _reported(doc) == []


def test_unittest_fail_methods_count() -> None:
    doc = python_doc(
        """
        import unittest


        class TestLegacy(unittest.TestCase):
            def test_old_style(self):
                self.failUnlessEqual(parse("1"), 1)
        """
    )
    assert _reported(doc) == []


def test_hypothesis_properties_and_snapshot_fixtures_count() -> None:
    doc = python_doc(
        """
        from hypothesis import given, strategies as st


        @given(st.text())
        def test_never_crashes(text):
            tokenize(text)


        def test_report_output(data_regression):
            data_regression.check(build_report())


        def test_parse_speed(benchmark):
            benchmark(parse, BIG)
        """
    )
    assert _reported(doc) == []


def test_tests_documented_as_checking_that_nothing_raises_are_left_alone() -> None:
    doc = python_doc(
        '''
        def test_unicode_paths(tmp_path):
            """Loading a file with a non-ASCII name must not raise."""
            load(tmp_path / "données.toml")


        def test_empty_config():
            # smoke test: the defaults load without errors
            load_defaults()


        def test_does_not_crash_on_empty_input():
            parse("")


        def test_loads():
            load_defaults()
        '''
    )
    assert _reported(doc) == ["test_loads"]


def test_assertion_helpers_imported_from_test_support_modules_count(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    _project_doc(tmp_path, "tests/util.py", "def elementary_test(item, kind):\n    assert isinstance(item, kind)\n")
    _project_doc(tmp_path, "tests/helpers.py", "def compare(a, b):\n    assert a == b\n")
    _project_doc(tmp_path, "src/lib/core.py", "def parse(text):\n    raise ValueError(text)\n")
    doc = _project_doc(
        tmp_path,
        "tests/test_items.py",
        """
        from lib.core import parse
        from tests.util import elementary_test
        from .helpers import compare as same


        def test_integer_unwrap():
            elementary_test(item(666), int)


        def test_relative():
            same(item(1), 1)


        def test_library_raise_is_not_an_assertion():
            parse("x")
        """,
    )
    assert _reported(doc) == ["test_library_raise_is_not_an_assertion"]


def test_import_only_and_otherwise_documented_tests_are_left_alone() -> None:
    doc = python_doc(
        '''
        def test_import_parser_direct():
            import dateutil.parser


        def test_import_version_str():
            """ Test that dateutil.__version__ can be imported"""
            from dateutil import __version__


        def test_consumer(self):
            e = eater()
            e.send("hi")  # without @consumer, would raise TypeError


        def test_parser_private_not_warns():
            _tzparser()


        def test_for_coverage():
            mod.callback()


        def test_runs_callback():
            mod.callback()
        '''
    )
    assert _reported(doc) == ["test_runs_callback"]
