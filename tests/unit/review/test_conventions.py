"""Convention mining on small workspaces whose conventions we know: support counts, strong
conventions, and findings for the places that break them, with the evidence in the message."""

from __future__ import annotations

import textwrap
from pathlib import Path

from aqe.findings import FindingSource
from aqe.review.conventions import WorkspaceConventions, deviations, mine
from aqe.workspace import Workspace

PLAIN_TEST = """
import pytest
from shop.cart import total


@pytest.fixture
def cart():
    return []


def test_total_of_{n}(cart):
    assert total(cart) == 0
"""

UNITTEST_TEST = """
import unittest
from shop.cart import total


class TotalTest(unittest.TestCase):
    def setUp(self):
        self.cart = []

    def test_total(self):
        self.assertEqual(total(self.cart), 0)
"""


def _files(**texts: str) -> list[tuple[str, str]]:
    """Keyword names stand for paths: `tests__test_cart` is tests/test_cart.py."""
    named = [(path.replace("__", "/"), text) for path, text in texts.items()]
    return [(path if path.endswith(".py") else f"{path}.py", textwrap.dedent(text)) for path, text in named]


def _deviations(profile, observed, path: str, **thresholds: float):
    return deviations(profile, path, observed[path], **thresholds)


def _plain_suite(count: int) -> dict[str, str]:
    return {f"tests__test_part{n}.py": PLAIN_TEST.format(n=n) for n in range(count)}


def test_support_counts_every_test_file_by_its_assertion_style():
    profile, _ = mine(_files(**_plain_suite(9), tests__test_legacy=UNITTEST_TEST))
    style = profile.conventions["tests.assertion-style"]
    assert (style.dominant.option, style.dominant.count, style.total) == ("plain assert", 9, 10)
    assert style.evidence == "9 of 10 test files use plain assert"


def test_a_file_against_a_strong_convention_becomes_a_finding_with_the_evidence():
    files = _files(**_plain_suite(9), tests__test_legacy=UNITTEST_TEST)
    profile, observed = mine(files)
    findings = _deviations(profile, observed, "tests/test_legacy.py", min_share=0.8, min_samples=5)
    by_rule = {finding.rule_id: finding for finding in findings}
    assertion = by_rule["convention/tests.assertion-style"]
    assert assertion.source is FindingSource.CONVENTION
    assert "uses self.assert* methods" in assertion.message
    assert "9 of 10 test files use plain assert" in assertion.message
    assert assertion.confidence == 0.9
    assert "convention/tests.setup-style" in by_rule
    assert "convention/tests.framework" in by_rule


def test_a_file_that_follows_the_conventions_has_no_findings():
    files = _files(**_plain_suite(9), tests__test_legacy=UNITTEST_TEST)
    profile, observed = mine(files)
    assert _deviations(profile, observed, "tests/test_part3.py", min_share=0.8, min_samples=5) == []


def test_a_split_team_has_no_strong_convention_and_no_findings():
    files = _files(**_plain_suite(5), **{f"tests__test_old{n}.py": UNITTEST_TEST for n in range(5)})
    profile, observed = mine(files)
    assert profile.conventions["tests.assertion-style"].share == 0.5
    assert _deviations(profile, observed, "tests/test_old0.py", min_share=0.8, min_samples=5) == []


def test_too_few_places_make_no_strong_convention():
    files = _files(**_plain_suite(3), tests__test_legacy=UNITTEST_TEST)
    profile, observed = mine(files)
    assert _deviations(profile, observed, "tests/test_legacy.py", min_share=0.7, min_samples=5) == []


def test_function_naming_counts_snake_and_camel_case_and_skips_single_words():
    code = """
    def apply_discount(price):
        return price

    def add_tax(price):
        return price

    def computeTotal(items):
        return 0

    def total(items):
        return 0
    """
    profile, observed = mine(_files(src__shop__pricing=code))
    naming = profile.conventions["naming.functions"]
    assert {option.option: option.count for option in naming.options} == {"snake_case": 2, "camelCase": 1}
    findings = _deviations(profile, observed, "src/shop/pricing.py", min_share=0.6, min_samples=3)
    messages = [finding.message for finding in findings if finding.rule_id == "convention/naming.functions"]
    assert messages == [
        "`computeTotal` is named in camelCase; 2 of 3 functions are named in snake_case "
        "(team convention: function naming)"
    ]


def test_raise_from_inside_except_is_a_convention_and_a_bare_reraise_is_not_counted():
    code = """
    def load(path):
        try:
            return open(path).read()
        except OSError as error:
            raise ValueError(path) from error

    def parse(text):
        try:
            return int(text)
        except ValueError as error:
            raise TypeError(text) from error

    def save(path):
        try:
            open(path, "w")
        except OSError:
            raise

    def close(handle):
        try:
            handle.close()
        except OSError as error:
            raise RuntimeError("close")
    """
    profile, observed = mine(_files(src__shop__files=code))
    raising = profile.conventions["errors.raise-from"]
    assert {option.option: option.count for option in raising.options} == {"with from": 2, "without from": 1}
    findings = _deviations(profile, observed, "src/shop/files.py", min_share=0.6, min_samples=3)
    assert [finding.span.start.line for finding in findings] == [23]


def test_docstring_style_and_coverage_are_mined_from_public_code():
    code = '''
    def area(width, height):
        """Area of a rectangle.

        Args:
            width: in metres.
        """
        return width * height

    def volume(width, height, depth):
        """Volume of a box.

        Args:
            depth: in metres.
        """
        return width * height * depth

    def perimeter(width, height):
        return 2 * (width + height)

    def _private_helper():
        return 1
    '''
    profile, _ = mine(_files(src__geometry__shapes=code))
    coverage = profile.conventions["docstrings.coverage"]
    assert {option.option: option.count for option in coverage.options} == {"documented": 2, "undocumented": 1}
    assert profile.conventions["docstrings.style"].dominant.option == "google"


def test_imports_of_the_own_package_are_relative_or_absolute():
    relative = "from .cart import total\nfrom . import pricing\n"
    absolute = "from shop.cart import total\nimport os\nfrom os import path\n"
    profile, _ = mine(_files(src__shop__a=relative, src__shop__b=absolute))
    style = profile.conventions["imports.package-style"]
    assert {option.option: option.count for option in style.options} == {"relative": 2, "absolute": 1}


def test_test_layout_and_file_naming_are_counted_per_test_file():
    files = _files(**_plain_suite(4), src__shop__cart_test=PLAIN_TEST.format(n=9))
    profile, _ = mine(files)
    assert profile.conventions["tests.location"].evidence == "4 of 5 test files live in a tests/ folder"
    assert profile.conventions["tests.file-naming"].evidence == "4 of 5 test files are named test_<module>.py"


def test_the_workspace_miner_updates_one_file_without_rereading_the_rest(tmp_path: Path):
    (tmp_path / "tests").mkdir()
    for n in range(6):
        (tmp_path / "tests" / f"test_part{n}.py").write_text(textwrap.dedent(PLAIN_TEST.format(n=n)))
    miner = WorkspaceConventions(tmp_path.resolve(), Workspace((tmp_path.resolve(),), ()))
    assert miner.scan() == 6
    assert miner.profile.conventions["tests.assertion-style"].total == 6
    edited = tmp_path / "tests" / "test_part0.py"
    miner.update(edited, textwrap.dedent(UNITTEST_TEST))
    style = miner.profile.conventions["tests.assertion-style"]
    assert {option.option: option.count for option in style.options} == {"plain assert": 5, "assert methods": 1}
    miner.forget(edited)
    assert miner.profile.conventions["tests.assertion-style"].total == 5
