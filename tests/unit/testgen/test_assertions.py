"""Assertions beyond "this call returned that": error messages, relations that held, parametrised
cases, and the choice of cases beyond coverage."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from aqe.testgen.assertions import message_pattern
from aqe.testgen.probe import Observation, choose_cases, read_observations
from aqe.testgen.relations import IDEMPOTENT, confirmed, inverse_names, relation_checks
from aqe.testgen.render import render_pytest, render_unittest
from aqe.testgen.target import TestTarget, find_target_by_name
from aqe.testgen.values import Call, candidate_calls, value_context

WORDS = """
def camelize(text: str) -> str:
    return "".join(part.capitalize() for part in text.split("_"))


def underscore(text: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in text).lstrip("_")


def ordinal(number: int) -> str:
    return {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")


def total(prices: list[int]) -> int:
    return sum(prices)
"""


def target_and_calls(tmp_path: Path, name: str) -> tuple[TestTarget, list[Call]]:
    (tmp_path / "words.py").write_text(WORDS)
    target = find_target_by_name(tmp_path, "words.py", WORDS, name)
    return target, candidate_calls(value_context(tmp_path, target, WORDS, []))


def value(number: int, value_repr: str, *relations: tuple[str, bool]) -> Observation:
    return Observation(number, value_repr, "str", "builtins", True, relations=tuple(relations))


# --- error messages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "pattern"),
    [
        ("level must be digits, got 'x'", r"level must be digits, got 'x'"),
        ("invalid literal for int() with base 10: 'x'", r"invalid literal for int\(\) with base 10: 'x'"),
        ("cannot open /tmp/abc123/data.txt", "cannot open"),
        ("<Item object at 0x7f00> is frozen", None),
        ("bad", None),
        (None, None),
    ],
)
def test_an_error_is_matched_on_the_stable_start_of_its_message(message: str | None, pattern: str | None) -> None:
    found = message_pattern(message)

    assert (ast.literal_eval(found) if found else None) == pattern
    if found and message:
        assert re.search(ast.literal_eval(found), message)


def test_a_raised_error_is_rendered_with_its_message(tmp_path: Path) -> None:
    target, calls = target_and_calls(tmp_path, "ordinal")
    raised = Observation(0, raised="ValueError", raised_module="builtins", message="number must be positive")

    pytest_body = render_pytest(target, [(calls[0], raised)], set()).body
    unittest_body = render_unittest(target, [(calls[0], raised)], set()).body

    assert 'with pytest.raises(ValueError, match=r"number must be positive"):' in pytest_body
    assert 'with self.assertRaisesRegex(ValueError, r"number must be positive"):' in unittest_body


# --- relations --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "inverse"),
    [
        ("camelize", "underscore"),
        ("underscore", "camelize"),
        ("to_json", "from_json"),
        ("b64encode", "b64decode"),
        ("celsius_to_fahrenheit", "fahrenheit_to_celsius"),
        ("dumps", "loads"),
    ],
)
def test_inverse_functions_are_found_by_name(name: str, inverse: str) -> None:
    assert inverse in inverse_names(name)


def test_a_function_without_an_inverse_in_its_module_is_checked_for_idempotence_only(tmp_path: Path) -> None:
    target, calls = target_and_calls(tmp_path, "ordinal")

    assert list(relation_checks(target, calls[0])) == [IDEMPOTENT]


def test_the_probe_output_keeps_the_relations_of_each_call() -> None:
    line = (
        '{"n": 0, "repr": "\'Abc\'", "roundtrip": true, "relations": {"idempotent": true, "inverse:underscore": false}}'
    )

    assert read_observations(line)[0].relations == ((IDEMPOTENT, True), ("inverse:underscore", False))


def test_idempotence_is_asserted_only_when_it_held_on_every_call(tmp_path: Path) -> None:
    _target, calls = target_and_calls(tmp_path, "camelize")
    everywhere = [value(0, "'Abc'", (IDEMPOTENT, True)), value(1, "'AbCd'", (IDEMPOTENT, True))]
    once = [everywhere[0], value(1, "'X'", (IDEMPOTENT, False))]

    assert confirmed([(calls[0], everywhere[0])], everywhere)[0][1].relations == ((IDEMPOTENT, True),)
    assert confirmed([(calls[0], once[0])], once)[0][1].relations == ()


def test_a_round_trip_that_held_is_asserted_on_the_result(tmp_path: Path) -> None:
    target, calls = target_and_calls(tmp_path, "camelize")
    observed = value(0, "'Abc'", ("inverse:underscore", True))

    candidate = render_pytest(target, confirmed([(calls[0], observed)], [observed]), set())

    assert 'result = camelize("abc")' in candidate.body
    assert "assert result == 'Abc'" in candidate.body
    assert 'assert underscore(result) == "abc"' in candidate.body
    assert "from words import underscore" in candidate.imports


# --- several cases ----------------------------------------------------------------------------------


def test_cases_of_one_shape_become_one_parametrised_test(tmp_path: Path) -> None:
    target, calls = target_and_calls(tmp_path, "ordinal")
    cases = [(calls[0], value(0, "'st'")), (calls[1], value(1, "'nd'"))]

    candidate = render_pytest(target, cases, set(), parametrize=True)

    assert candidate.test_names == ("test_ordinal",)
    assert '@pytest.mark.parametrize(\n    ("number", "expected"),' in candidate.body
    assert f"({calls[1].arguments[0][1].source}, 'nd')," in candidate.body
    assert "assert ordinal(number) == expected" in candidate.body
    assert "import pytest" in candidate.imports
    ast.parse(candidate.body)


def test_without_parametrize_each_case_is_its_own_test(tmp_path: Path) -> None:
    target, calls = target_and_calls(tmp_path, "ordinal")
    cases = [(calls[0], value(0, "'st'")), (calls[1], value(1, "'nd'"))]

    assert len(render_pytest(target, cases, set()).test_names) == 2


def test_calls_that_end_differently_are_kept_although_they_reach_no_new_arc(tmp_path: Path) -> None:
    _target, calls = target_and_calls(tmp_path, "ordinal")
    outcomes = ["'st'", "'st'", "'nd'", "'rd'", "'th'"]
    observations = {n: value(n, text) for n, text in enumerate(outcomes)}
    arcs = {n: {(1, 2)} for n in observations}

    assert choose_cases(calls, observations, arcs, set()) == [0, 2, 3, 4]


def test_a_call_that_returns_its_argument_unchanged_is_chosen_last(tmp_path: Path) -> None:
    _target, calls = target_and_calls(tmp_path, "camelize")
    sources = [call.arguments[0][1].source for call in calls[:3]]
    observations = {0: value(0, "'Abc'"), 1: value(1, sources[1]), 2: value(2, "'Xyz'")}

    assert choose_cases(calls, observations, {n: {(1, 2)} for n in observations}, set()) == [0, 2, 1]


def test_nothing_is_chosen_when_no_call_reaches_anything_new(tmp_path: Path) -> None:
    _target, calls = target_and_calls(tmp_path, "ordinal")
    observations = {0: value(0, "'st'"), 1: value(1, "'nd'")}

    assert choose_cases(calls, observations, {0: {(1, 2)}, 1: {(1, 2)}}, {(1, 2)}) == []
