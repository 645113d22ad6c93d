"""The mutants of one function: mutmut's operators, restricted to that function, with spans."""

import pytest

from aqe.mutation.mutants import MutationError, function_mutants

MODULE = '''import re


def pluralize(word: str, count: int = 2) -> str:
    """The plural of `word`."""
    if count == 1:
        return word
    return word + "s"


def untouched(a, b):
    return a < b


class Box:
    # a comment above the method
    def area(self, width, height):
        return super().__repr__() if width < 0 else width * height
'''


def test_only_the_named_function_is_mutated():
    found = function_mutants("shop.py", MODULE, "pluralize")
    assert found.mutants
    assert {mutant.line for mutant in found.mutants} <= set(range(found.start_line, found.end_line + 1))
    assert found.start_line == 4


def test_each_mutant_says_what_changed_where():
    found = function_mutants("shop.py", MODULE, "pluralize")
    equality = next(mutant for mutant in found.mutants if mutant.original == "==")
    assert (equality.line, equality.replacement, equality.description) == (6, "!=", "`==` to `!=`")
    assert MODULE.splitlines()[equality.line - 1][equality.column :].startswith("== 1")
    assert "if count != 1:" in equality.function_source
    assert equality.function_source.startswith("def pluralize(")


def test_mutant_ids_are_unique_and_stable():
    first = function_mutants("shop.py", MODULE, "pluralize")
    again = function_mutants("shop.py", MODULE, "pluralize")
    ids = [mutant.id for mutant in first.mutants]
    assert len(ids) == len(set(ids))
    assert ids == [mutant.id for mutant in again.mutants]


def test_the_docstring_and_annotations_are_left_alone():
    found = function_mutants("shop.py", MODULE, "pluralize")
    assert all("plural of" not in mutant.original for mutant in found.mutants)
    assert all(mutant.line != 4 for mutant in found.mutants)


def test_a_method_is_found_through_its_class_and_dedented_without_comments():
    found = function_mutants("shop.py", MODULE, "Box.area")
    comparison = next(mutant for mutant in found.mutants if mutant.original == "<")
    assert comparison.replacement == "<="
    assert comparison.function_source.startswith("def area(self, width, height):")


def test_an_unknown_function_is_an_error():
    with pytest.raises(MutationError, match="no function `missing`"):
        function_mutants("shop.py", MODULE, "missing")


def test_unparsable_code_is_an_error():
    with pytest.raises(MutationError, match="cannot be parsed"):
        function_mutants("shop.py", "def broken(:\n", "broken")
