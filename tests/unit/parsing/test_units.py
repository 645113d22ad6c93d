from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language, language_for_id, language_for_path
from aqe.parsing.units import UnitKind, extract_units, is_test_file

PYTHON = '''"""Pricing rules."""
import unittest


@dataclass(frozen=True)
class Price:
    """A price in cents."""

    def with_tax(self, rate):
        return self


def total(prices, *, discount=0):
    """Sum prices."""
    def helper(x):
        return x
    return sum(prices)


class TestPrice(unittest.TestCase):
    def test_tax(self):
        self.assertEqual(1, 1)

    def helper(self):
        pass


def test_total():
    assert total([]) == 0
'''


def _units(path: str, text: str, language: Language):
    return {u.qualified_name: u for u in extract_units(ParsedDocument.parse(path, text, language))}


def test_python_units_carry_kind_names_docstrings_and_decorators():
    units = _units("tests/test_pricing.py", PYTHON, Language.PYTHON)
    assert units["test_pricing"].kind is UnitKind.MODULE
    assert units["test_pricing"].docstring == "Pricing rules."
    assert units["Price"].kind is UnitKind.CLASS
    assert units["Price"].decorators == ("dataclass(frozen=True)",)
    assert units["Price"].docstring == "A price in cents."
    assert units["Price.with_tax"].kind is UnitKind.METHOD
    assert units["total"].kind is UnitKind.FUNCTION
    assert units["total"].docstring == "Sum prices."
    assert units["total.helper"].kind is UnitKind.FUNCTION
    assert units["TestPrice"].kind is UnitKind.TEST_CLASS
    assert units["TestPrice.test_tax"].kind is UnitKind.TEST_FUNCTION
    assert units["TestPrice.helper"].kind is UnitKind.METHOD
    assert units["test_total"].kind is UnitKind.TEST_FUNCTION


def test_decorated_unit_range_starts_at_the_decorator_and_name_span_at_the_name():
    units = _units("tests/test_pricing.py", PYTHON, Language.PYTHON)
    price = units["Price"]
    assert price.span.start.line == 4  # the @dataclass line
    assert price.name_span.start.line == 5
    assert price.name_span.start.character == len("class ")


def test_test_named_functions_outside_test_files_are_plain_functions():
    units = _units("src/pricing.py", "def test_mode():\n    return True\n", Language.PYTHON)
    assert units["test_mode"].kind is UnitKind.FUNCTION


def test_js_units_include_suites_tests_functions_classes_and_methods():
    code = """
describe("cart", () => {
  it.only("adds items", async () => { expect(add(1, 2)).toBe(3); });
});
export function add(a, b) { return a + b; }
const double = (x) => x * 2;
class Cart { total() { return 0; } }
"""
    units = _units("web/cart.test.ts", code, Language.TYPESCRIPT)
    assert units["cart"].kind is UnitKind.TEST_CLASS
    assert units["cart.adds items"].kind is UnitKind.TEST_FUNCTION
    assert units["add"].kind is UnitKind.FUNCTION
    assert units["double"].kind is UnitKind.FUNCTION
    assert units["Cart"].kind is UnitKind.CLASS
    assert units["Cart.total"].kind is UnitKind.METHOD


def test_units_are_still_extracted_around_a_syntax_error():
    code = "def good():\n    return 1\n\ndef broken(:\n    pass\n\ndef also_good():\n    return 2\n"
    names = set(_units("m.py", code, Language.PYTHON))
    assert {"good", "also_good"} <= names


def test_language_detection_prefers_the_client_language_id():
    assert language_for_path("a/b.tsx") is Language.TSX
    assert language_for_path("a/b.txt") is None
    assert language_for_id("python", "notes.txt") is Language.PYTHON
    assert language_for_id("plaintext", "x.js") is Language.JAVASCRIPT


def test_test_file_patterns_follow_pytest_and_jest_defaults():
    assert is_test_file("test_cart.py")
    assert is_test_file("cart_test.py")
    assert is_test_file("pkg/tests/helpers.py")
    assert is_test_file("web/cart.spec.ts")
    assert not is_test_file("src/contest.py")


def test_definitions_inside_guards_and_fallbacks_belong_to_the_enclosing_unit():
    code = """
try:
    from fast import parse
except ImportError:
    def parse(text):
        return text
finally:
    def cleanup():
        pass
if FLAG:
    pass
elif OTHER:
    def other():
        pass
for _ in range(1):
    def looped():
        pass
match mode:
    case "a":
        def matched():
            pass
"""
    names = set(_units("m.py", code, Language.PYTHON))
    assert {"parse", "cleanup", "other", "looped", "matched"} <= names
