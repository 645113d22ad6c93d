"""Side effects as assertions: the list a call changed, the state a method left behind."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from aqe.testgen.effects import bind, effect_assertions, effects_expression
from aqe.testgen.probe import Observation, probe_module, read_observations
from aqe.testgen.render import render_pytest
from aqe.testgen.target import TestTarget, find_target_by_name
from aqe.testgen.values import Call, candidate_calls, value_context

BAG = """
def add_tag(tags: list[str], tag: str) -> int:
    tags.append(tag)
    return len(tags)


class Counter:
    def __init__(self, start: int = 0) -> None:
        self.count = start

    def bump(self, by: int) -> None:
        self.count += by
"""


def target_and_calls(tmp_path: Path, name: str) -> tuple[TestTarget, list[Call]]:
    (tmp_path / "bag.py").write_text(BAG)
    target = find_target_by_name(tmp_path, "bag.py", BAG, name)
    return target, candidate_calls(value_context(tmp_path, target, BAG, []))


def test_a_list_argument_and_the_receiver_are_bound_to_names(tmp_path: Path) -> None:
    target, calls = target_and_calls(tmp_path, "add_tag")
    method, method_calls = target_and_calls(tmp_path, "Counter.bump")

    bound, assignments = bind(calls[0], target)
    bound_method, method_assignments = bind(method_calls[0], method)

    assert bound.expression(target) == 'add_tag(tags, "abc")'
    assert assignments == (("tags", "[]", "tags"),)
    assert bound_method.expression(method) == "counter.bump(1)"
    assert method_assignments == (("counter", "Counter()", "self"),)


def test_a_plain_value_argument_is_left_in_the_call(tmp_path: Path) -> None:
    target, calls = target_and_calls(tmp_path, "Counter.bump")

    bound, _ = bind(calls[0], target)

    assert bound.arguments == calls[0].arguments


PAIR = """
def camelize(text: str) -> str:
    return text.title().replace("_", "")


def underscore(text: str) -> str:
    return text.lower()
"""


@pytest.mark.parametrize(
    ("source", "name", "expected"),
    [
        (
            BAG,
            "add_tag",
            ["    _aqe_tags = []\n", "lambda: add_tag(_aqe_tags, \"abc\"), {}, lambda: {'tags': _aqe_tags})"],
        ),
        (
            PAIR,
            "camelize",
            ["from bag import underscore", "'inverse:underscore': lambda _value: underscore(_value) == \"abc\""],
        ),
    ],
)
def test_the_probe_watches_the_bound_things_and_checks_the_round_trip(
    tmp_path: Path, source: str, name: str, expected: list[str]
) -> None:
    (tmp_path / "bag.py").write_text(source)
    target = find_target_by_name(tmp_path, "bag.py", source, name)
    calls = candidate_calls(value_context(tmp_path, target, source, []))

    probe = probe_module(target, calls[:1])

    assert all(part in probe for part in expected), probe
    ast.parse(probe)


def test_the_probe_output_keeps_what_each_call_changed() -> None:
    line = '{"n": 0, "repr": "1", "roundtrip": true, "effects": {"tags": "[\'abc\']"}}'

    assert read_observations(line)[0].effects == (("tags", "['abc']"),)


def test_changes_are_asserted_on_the_argument_and_on_the_receivers_attributes() -> None:
    assignments = (("tags", "[]", "tags"), ("counter", "Counter()", "self"))

    checks = effect_assertions(assignments, (("self.count", "2"), ("tags", "['abc']"), ("other", "1")))

    assert checks == ["counter.count == 2", "tags == ['abc']"]
    assert effects_expression(assignments) == "lambda: {'tags': tags, 'self': counter}"


def test_a_method_that_returns_none_is_tested_on_the_state_it_leaves(tmp_path: Path) -> None:
    target, calls = target_and_calls(tmp_path, "Counter.bump")
    observed = Observation(0, "None", "NoneType", "builtins", True, effects=(("self.count", "1"),))

    body = render_pytest(target, [(calls[0], observed)], set()).body

    assert "    counter = Counter()\n    assert counter.bump(1) is None\n    assert counter.count == 1" in body


def test_a_secret_the_call_wrote_into_an_argument_is_never_asserted() -> None:
    key = "AKIA" + "IOSFODNN7EXAMPLE"
    effects = {"settings": repr({"aws_key": key}), "tags": "['abc']"}
    line = json.dumps({"n": 0, "repr": "1", "roundtrip": True, "effects": effects})

    assert read_observations(line)[0].effects == (("tags", "['abc']"),)
