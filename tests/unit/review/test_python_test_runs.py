"""Specification of QE109-QE111: tests whose outcome does not depend on the code they run."""

from __future__ import annotations

import textwrap
from pathlib import Path

from rule_helpers import covered_text, fixed, python_doc, run

from aqe.findings import Severity
from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language
from aqe.review.pytest_collection import collection_for
from aqe.review.rules import all_rules
from aqe.review.rules.python_test_runs import RULES, AsyncTestNotAwaited, BroadRaisesBlock, ReturnInTest

_UNMARKED_ASYNC_TEST = """
    async def test_fetch_returns_the_page(client):
        page = await client.fetch("/")
        assert page.status == 200
"""


def _project_file(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def _project_doc(root: Path, relative: str, text: str) -> ParsedDocument:
    path = _project_file(root, relative, text)
    return ParsedDocument.parse(str(path), path.read_text(), Language.PYTHON)


def test_rules_have_their_fixed_ids_names_and_severities() -> None:
    assert [(r.info.id, r.info.name, r.info.default_severity) for r in RULES] == [
        ("QE109", "broad-raises-around-block", Severity.WARNING),
        ("QE110", "async-test-not-awaited", Severity.WARNING),
        ("QE111", "return-value-in-test", Severity.WARNING),
    ]
    assert {r.info.id for r in RULES} <= {r.info.id for r in all_rules()}


# --- QE109 broad-raises-around-block -----------------------------------------------------------------


def test_qe109_reports_a_catch_all_raises_around_several_statements() -> None:
    doc = python_doc(
        """
        import pytest as pt


        def test_rejects_negative_quantity(catalog):
            with pt.raises(Exception):
                item = catalog.get("book")
                item.order(quantity=-1)
        """
    )
    [finding] = run(BroadRaisesBlock, doc)
    assert covered_text(doc, finding.span) == "pt.raises(Exception)"
    assert "2 statements" in finding.message
    assert finding.fix is None


def test_qe109_reports_assert_raises_as_a_context_manager_and_a_tuple_with_exception() -> None:
    doc = python_doc(
        """
        import unittest
        from pytest import raises


        class OrderTests(unittest.TestCase):
            def test_negative(self):
                with self.assertRaises(BaseException):
                    order = make_order()
                    order.cancel()


        def test_tuple():
            with raises((ValueError, Exception)):
                parse("x")
                parse("y")
        """
    )
    assert len(run(BroadRaisesBlock, doc)) == 2


def test_qe109_leaves_one_statement_a_specific_type_and_a_match_pattern_alone() -> None:
    doc = python_doc(
        """
        import pytest


        def test_shapes(catalog):
            with pytest.raises(Exception):
                catalog.get("missing")
            with pytest.raises(KeyError):
                item = catalog.get("book")
                item.order(quantity=-1)
            with pytest.raises(Exception, match="quantity must be positive"):
                item = catalog.get("book")
                item.order(quantity=-1)
            with open("data") as handle:
                first = handle.readline()
                second = handle.readline()
        """
    )
    assert run(BroadRaisesBlock, doc) == []


# --- QE110 async-test-not-awaited --------------------------------------------------------------------


def test_qe110_reports_an_unmarked_coroutine_test_without_a_plugin_configured(tmp_path: Path) -> None:
    _project_file(tmp_path, "pyproject.toml", "[tool.pytest.ini_options]\ntestpaths = ['tests']\n")
    doc = _project_doc(tmp_path, "tests/test_client.py", _UNMARKED_ASYNC_TEST)
    [finding] = run(AsyncTestNotAwaited, doc)
    assert covered_text(doc, finding.span) == "test_fetch_returns_the_page"
    assert "never runs" in finding.message


def test_qe110_reports_a_coroutine_method_of_a_plain_test_case() -> None:
    doc = python_doc(
        """
        import unittest


        class ClientTests(unittest.TestCase):
            async def test_fetch(self):
                self.assertEqual(await fetch("/"), 200)
        """
    )
    [finding] = run(AsyncTestNotAwaited, doc)
    assert covered_text(doc, finding.span) == "test_fetch"


def test_qe110_trusts_asyncio_auto_mode_from_ini_or_addopts_and_trio_mode(tmp_path: Path) -> None:
    configs = {
        "auto": ("pytest.ini", "[pytest]\nasyncio_mode = auto\n"),
        "addopts": ("setup.cfg", "[tool:pytest]\naddopts = -ra --asyncio-mode=auto\n"),
        "trio": ("pyproject.toml", "[tool.pytest.ini_options]\ntrio_mode = true\n"),
    }
    for name, (config, text) in configs.items():
        _project_file(tmp_path / name, config, text)
        doc = _project_doc(tmp_path / name, "tests/test_client.py", _UNMARKED_ASYNC_TEST)
        assert collection_for(doc.path).async_runners, name
        assert run(AsyncTestNotAwaited, doc) == [], name


def test_qe110_trusts_a_conftest_that_may_run_coroutines(tmp_path: Path) -> None:
    _project_file(tmp_path, "pytest.ini", "[pytest]\n")
    _project_file(
        tmp_path,
        "tests/conftest.py",
        """
        import asyncio, inspect

        def pytest_pyfunc_call(pyfuncitem):
            if inspect.iscoroutinefunction(pyfuncitem.obj):
                asyncio.run(pyfuncitem.obj(**pyfuncitem.funcargs))
                return True
        """,
    )
    doc = _project_doc(tmp_path, "tests/unit/test_client.py", _UNMARKED_ASYNC_TEST)
    assert run(AsyncTestNotAwaited, doc) == []


def test_qe110_leaves_marked_decorated_and_async_test_case_tests_alone() -> None:
    doc = python_doc(
        """
        import unittest

        import pytest


        @pytest.mark.asyncio
        async def test_marked():
            assert await fetch() == 1


        @pytest.mark.parametrize("n", [1, 2])
        @pytest.mark.anyio
        async def test_marked_among_others(n):
            assert await fetch(n) == n


        async def test_anyio_backend(anyio_backend):
            assert await fetch() == 1


        @async_to_sync
        async def test_own_decorator():
            assert await fetch() == 1


        @pytest.mark.skip(reason="flaky upstream")
        async def test_skipped():
            assert await fetch() == 1


        @pytest.mark.trio
        class TestTrio:
            async def test_in_marked_class(self):
                assert await fetch() == 1


        class TestBase(AsyncServerTests):
            async def test_inherited_runner(self):
                assert await fetch() == 1


        class ClientTests(unittest.IsolatedAsyncioTestCase):
            async def test_awaited_by_unittest(self):
                self.assertEqual(await fetch(), 1)


        async def helper_not_a_test():
            return await fetch()


        @pytest.fixture
        async def test_server():
            yield await start()
        """
    )
    assert run(AsyncTestNotAwaited, doc) == []


def test_qe110_reads_the_module_pytestmark() -> None:
    doc = python_doc(
        """
        import pytest

        pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

        async def test_marked_by_module():
            assert await fetch() == 1
        """
    )
    assert run(AsyncTestNotAwaited, doc) == []


# --- QE111 return-value-in-test ----------------------------------------------------------------------


def test_qe111_reports_a_returned_comparison_and_turns_it_into_an_assert() -> None:
    doc = python_doc(
        """
        def test_discount_applies(cart):
            cart.add("book", price=20)
            return cart.total(discount=0.5) == 10
        """
    )
    [finding] = run(ReturnInTest, doc)
    assert covered_text(doc, finding.span) == "return cart.total(discount=0.5) == 10"
    text, after = fixed(ReturnInTest, doc, finding)
    assert "    assert cart.total(discount=0.5) == 10" in text
    assert after == []


def test_qe111_reports_an_early_returned_value_without_a_fix() -> None:
    doc = python_doc(
        """
        import unittest


        class ParseTests(unittest.TestCase):
            def test_parse(self):
                result = parse("x")
                if result is None:
                    return False
                self.assertEqual(result.kind, "x")
        """
    )
    [finding] = run(ReturnInTest, doc)
    assert finding.fix is None
    assert "which pytest ignores" in finding.message


def test_qe111_leaves_bare_returns_skips_nested_functions_and_tests_used_as_helpers_alone() -> None:
    doc = python_doc(
        """
        import pytest


        def test_optional_backend():
            if not HAS_BACKEND:
                return
            if OLD:
                return None
            if WINDOWS:
                return pytest.skip("not on windows")
            def key(item):
                return item.name
            assert sorted(items, key=key) == expected


        def test_build_fixture_data():
            return {"name": "book"}


        def test_uses_the_other():
            data = test_build_fixture_data()
            assert data["name"] == "book"


        def helper():
            return 3
        """
    )
    assert run(ReturnInTest, doc) == []
