"""The message after "Generate test": one short line a notification shows whole, honest about whether the
file was saved; the details (runs, coverage gained, the interpreter) go to the log."""

from __future__ import annotations

import sys
from pathlib import Path

from aqe.lsp.features.testgen import result_details, result_message
from aqe.testgen.generate import GenerationResult, ProvenTest
from aqe.testgen.placement import TestFileEdit
from aqe.testgen.render import TestCandidate
from aqe.testgen.target import find_target_by_name

SHOP = Path(__file__).resolve().parents[3] / "examples" / "shop"


def test_a_saved_test_is_said_to_be_saved():
    names = ("test_shipping_cents_is_free_from_fifty_euros",)
    message = result_message(names, "shipping_cents", "tests/test_shipping.py", saved=True)
    assert message == "aqe: added test_shipping_cents_is_free_from_fifty_euros to tests/test_shipping.py and saved it."


def test_an_unsaved_test_is_said_to_be_unsaved():
    message = result_message(("test_a", "test_b"), "shipping_cents", "tests/test_shipping.py", saved=False)
    assert message == "aqe: added 2 tests of `shipping_cents` to tests/test_shipping.py (unsaved)."


def test_the_mutation_score_fits_in_the_same_line():
    message = result_message(
        ("test_a",), "shipping_cents", "tests/test_shipping.py", saved=True,
        kills="kills 16 of 20 mutants",
    )  # fmt: skip
    assert message == "aqe: added test_a (it kills 16 of 20 mutants) to tests/test_shipping.py and saved it."


def test_the_details_name_runs_coverage_and_interpreter():
    text = (SHOP / "src/shop/shipping.py").read_text()
    target = find_target_by_name(SHOP, "src/shop/shipping.py", text, "shipping_cents")
    candidate = TestCandidate(
        name="test_shipping_cents", test_names=("test_shipping_cents",),
        body="def test_shipping_cents():\n    assert shipping_cents(0, 0) == 0\n",
        imports=("from shop.shipping import shipping_cents",), generator="values", labels=("characterisation",),
    )  # fmt: skip
    edit = TestFileEdit(path="tests/test_shipping.py", create=True, new_text="", edits=(), test_line=0)
    proven = ProvenTest(candidate, edit, 3, 5, 8, (21, 22), 2, False)
    result = GenerationResult(target, proven, None, network_isolated=False, python=sys.executable)
    details = result_details(result, 2)
    assert "passed 2 runs, reaching 2 branch arcs (2 lines) of `shipping_cents`" in details
    assert f"tests ran with {sys.executable}" in details
    assert "expected values observed from the current code" in details
    assert "could not cut off the network" in details
