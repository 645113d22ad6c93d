"""Reading the project for test generation: layout, conventions, the target function, its inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from aqe.testgen.layout import ModuleLocation, learn_conventions, module_location
from aqe.testgen.target import TargetError, find_target, find_target_by_name
from aqe.testgen.values import candidate_calls, value_context
from aqe.workspace import Workspace

SHOP = Path(__file__).resolve().parents[3] / "examples" / "shop"


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    shutil.copytree(SHOP, root)
    return root.resolve()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- layout -------------------------------------------------------------------------------------------


def test_a_src_layout_package_imports_from_its_package_name(shop: Path) -> None:
    assert module_location(shop, "src/shop/pricing.py") == ModuleLocation("shop.pricing", "src")
    assert module_location(shop, "src/shop/__init__.py") == ModuleLocation("shop", "src")


def test_a_top_level_module_without_a_package_imports_by_its_file_name(tmp_path: Path) -> None:
    write(tmp_path / "tools.py", "x = 1\n")

    assert module_location(tmp_path, "tools.py") == ModuleLocation("tools", "")


def test_generated_tests_are_parametrised_when_the_teams_tests_are(shop: Path, tmp_path: Path) -> None:
    write(tmp_path / "plain/tests/test_one.py", "def test_one():\n    assert 1\n")

    assert learn_conventions(Workspace([shop]), shop).parametrizes
    assert not learn_conventions(Workspace([tmp_path / "plain"]), tmp_path / "plain").parametrizes


def test_a_folder_name_that_is_not_an_identifier_cannot_be_imported(tmp_path: Path) -> None:
    write(tmp_path / "my-scripts/__init__.py", "")

    assert module_location(tmp_path, "my-scripts/run.py") is None


def test_conventions_are_learned_from_the_test_files(shop: Path) -> None:
    conventions = learn_conventions(Workspace([shop]), shop)

    assert conventions.framework == "pytest"
    assert conventions.test_folder == "tests"
    assert conventions.file_pattern == "test_{module}.py"
    assert ("customer", "Customer") in conventions.fixtures
    assert conventions.evidence == "6 of 6 test files use pytest, 6 live under tests/"
    assert conventions.test_path_for(ModuleLocation("shop.shipping", "src"), "src/shop/shipping.py") == (
        "tests/test_shipping.py"
    )


def test_unittest_classes_and_suffix_names_are_recognised(tmp_path: Path) -> None:
    for name in ("orders", "stock", "users"):
        write(
            tmp_path / f"app/{name}_test.py",
            f"import unittest\n\nclass Test{name.title()}(unittest.TestCase):\n"
            "    def test_it(self):\n        self.assertEqual(1, 1)\n",
        )

    conventions = learn_conventions(Workspace([tmp_path]), tmp_path)

    assert conventions.framework == "unittest"
    assert conventions.file_pattern == "{module}_test.py"


# --- the target ---------------------------------------------------------------------------------------


def test_the_target_carries_its_signature_literals_constants_and_imports(shop: Path) -> None:
    text = (shop / "src/shop/shipping.py").read_text()

    target = find_target_by_name(shop, "src/shop/shipping.py", text, "shipping_cents")

    assert [(p.name, p.annotation, p.default, p.kind) for p in target.parameters] == [
        ("weight_grams", "int", None, "positional"),
        ("subtotal_cents", "int", None, "positional"),
        ("express", "bool", "False", "keyword"),
    ]
    assert target.return_annotation == "int"
    assert "5000" in target.number_literals  # FREE_SHIPPING_FROM_CENTS, a module constant it compares with
    assert (target.start_line, target.end_line) == (19, 28)
    assert target.location == ModuleLocation("shop.shipping", "src")


def test_a_method_target_knows_how_to_build_its_instance(shop: Path) -> None:
    text = (shop / "src/shop/cart.py").read_text()

    target = find_target_by_name(shop, "src/shop/cart.py", text, "Cart.set_quantity")

    assert target.binding == "method" and target.class_name == "Cart"
    assert [p.name for p in target.parameters] == ["sku", "quantity"]
    assert target.owner is not None and target.owner.is_dataclass
    assert target.owner.parameters[0].name == "customer_id"


def test_the_position_picks_the_innermost_function(shop: Path) -> None:
    text = (shop / "src/shop/cart.py").read_text()
    line = next(number for number, row in enumerate(text.splitlines()) if "def set_quantity" in row) + 1

    assert find_target(shop, "src/shop/cart.py", text, line, 8).qualified_name == "Cart.set_quantity"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("class Thing:\n    pass\n", "is a class"),
        ("x = 1\n", "no function or method"),
        ("def outer():\n    def inner():\n        return 1\n    return inner\n", "defined inside a function"),
    ],
)
def test_things_that_are_not_targets_say_why(tmp_path: Path, source: str, message: str) -> None:
    write(tmp_path / "mod.py", source)
    line = 2 if "inner" in source else 0

    with pytest.raises(TargetError, match=message):
        find_target(tmp_path, "mod.py", source, line, 8)


def test_doctests_are_read_from_the_docstring(tmp_path: Path) -> None:
    source = 'def double(n: int) -> int:\n    """Twice n.\n\n    >>> double(2)\n    4\n    """\n    return n * 2\n'

    target = find_target_by_name(tmp_path, "mod.py", source, "double")

    assert [(d.source, d.expected) for d in target.doctests] == [("double(2)", "4")]


# --- inputs -------------------------------------------------------------------------------------------


def calls_for(root: Path, path: str, name: str) -> list[str]:
    text = (root / path).read_text()
    target = find_target_by_name(root, path, text, name)
    fixtures = learn_conventions(Workspace([root]), root).fixtures
    return [call.expression(target) for call in candidate_calls(value_context(root, target, text, fixtures))]


def test_inputs_reach_both_sides_of_the_comparisons_in_the_code(shop: Path) -> None:
    calls = calls_for(shop, "src/shop/shipping.py", "shipping_cents")

    assert calls[0] == "shipping_cents(1, 1)"
    assert {"shipping_cents(0, 1)", "shipping_cents(-1, 1)", "shipping_cents(1, 5000)",
            "shipping_cents(1, 1, express=True)"} <= set(calls)  # fmt: skip


def test_project_classes_are_built_from_their_fields_and_the_teams_fixtures_are_used(shop: Path) -> None:
    calls = calls_for(shop, "src/shop/pricing.py", "line_discount_percent")

    assert calls[0] == 'line_discount_percent(Product("abc", "abc", 1, "abc"), customer, 1, today)'
    # The fields the function reads are varied with the literals it compares them with.
    assert any('Customer("abc", loyalty_tier="gold")' in call for call in calls)
    assert any('Product("abc", "abc", 1, "clearance")' in call for call in calls)
    assert any(", 100, today)" in call for call in calls)


def test_a_method_is_called_on_an_instance(shop: Path) -> None:
    calls = calls_for(shop, "src/shop/cart.py", "Cart.set_quantity")

    assert calls[0] == 'Cart("abc").set_quantity("abc", 1)'


def test_a_parameter_that_cannot_be_built_means_no_model_free_calls(tmp_path: Path) -> None:
    write(tmp_path / "mod.py", "def handle(request: Request) -> int:\n    return request.status\n")

    assert calls_for(tmp_path, "mod.py", "handle") == []
