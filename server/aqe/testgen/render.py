"""Turning observed calls into test code in the team's style (pytest functions or unittest methods).

The values asserted were observed, not specified: these tests pin down what the code does today (a
regression oracle). Every generated test says so in its docstring, so a reviewer knows that an odd
expected value may be a bug to fix rather than a truth to keep.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aqe.testgen.assertions import (
    CHARACTERISES,
    message_pattern,
    parametrizable_groups,
    relation_assertions,
    render_parametrized,
)
from aqe.testgen.effects import bind, effect_assertions
from aqe.testgen.layout import TestConventions
from aqe.testgen.probe import Observation, target_import
from aqe.testgen.relations import confirmed, relation_imports
from aqe.testgen.target import TestTarget
from aqe.testgen.values import Call


@dataclass(frozen=True)
class TestCandidate:
    """Test code that has not been proven yet: one or more test functions and the imports they need."""

    __test__ = False  # a name pytest would otherwise try to collect

    name: str
    """The first test's name, also the candidate's identity in a run."""
    test_names: tuple[str, ...]
    body: str
    """The test functions (or one TestCase class), without imports."""
    imports: tuple[str, ...]
    generator: str
    """"model:<name>", "values", "doctest": which generator wrote it."""
    labels: tuple[str, ...] = ()
    """"characterisation" when expected values were observed rather than specified."""

    @property
    def lines(self) -> int:
        return len([line for line in self.body.splitlines() if line.strip()])


def value_imports(observation: Observation) -> set[str]:
    module = observation.value_module or observation.raised_module
    name = observation.value_type if observation.value_module else observation.raised
    if not module or module == "builtins" or not name or "." in name or "<" in name:
        return set()
    return {f"from {module} import {name}"}


def test_name(
    target: TestTarget, call: Call, observation: Observation, taken: set[str], with_suffix: bool = True
) -> str:
    base = f"test_{target.name.strip('_')}"
    if target.class_name:
        base = f"test_{_snake(target.class_name)}_{target.name.strip('_')}"
    suffix = call.name_suffix() if with_suffix else ""
    if observation.raised:
        base += f"_raises_{_snake(observation.raised)}"
    name = f"{base}_{suffix}" if suffix else base
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name}_{number}", number + 1
    taken.add(candidate)
    return candidate


def render_pytest(
    target: TestTarget,
    cases: Sequence[tuple[Call, Observation]],
    taken: set[str],
    generator: str = "values",
    parametrize: bool = False,
) -> TestCandidate | None:
    """One small test per observed behaviour: `assert f(...) == value` (and the relations that held),
    or `pytest.raises` with a stable part of the message; cases of the same shape as one
    parametrised test when the team writes its tests that way."""
    functions: list[str] = []
    names: list[str] = []
    imports = {target_import(target)}
    cases = [(call, observation) for call, observation in cases if observation.assertable]
    if parametrize:
        for group in parametrizable_groups(cases):
            name = test_name(target, group[0][0], group[0][1], taken, with_suffix=False)
            functions.append(render_parametrized(target, name, group))
            imports |= {"import pytest", *relation_imports(target, dict(group[0][1].relations))}
            imports |= {line for call, observation in group for line in (*call.imports, *value_imports(observation))}
            names.append(name)
            cases = [case for case in cases if case not in group]
    for call, observation in cases:
        name = test_name(target, call, observation, taken)
        bound, assignments = bind(call, target) if observation.effects else (call, ())
        expression = bound.expression(target)
        fixtures = ", ".join(sorted(call.fixtures))
        imports |= (
            set(call.imports) | value_imports(observation) | relation_imports(target, dict(observation.relations))
        )
        lines = [f"def {name}({fixtures}):", f'    """{CHARACTERISES}"""']
        lines += [f"    {variable} = {source}" for variable, source, _ in assignments]
        if observation.raised:
            imports.add("import pytest")
            pattern = message_pattern(observation.message)
            match = f", match={pattern}" if pattern else ""
            lines += [f"    with pytest.raises({observation.raised}{match}):", f"        {expression}"]
        elif observation.relations:
            lines += [f"    result = {expression}", f"    assert {_equals('result', observation.value_repr)}"]
            lines += [f"    assert {check}" for check in relation_assertions(target, call, observation, "result")]
        else:
            lines.append(f"    assert {_equals(expression, observation.value_repr)}")
        lines += [f"    assert {check}" for check in effect_assertions(assignments, observation.effects)]
        functions.append("\n".join(lines))
        names.append(name)
    if not functions:
        return None
    return TestCandidate(
        name=names[0],
        test_names=tuple(names),
        body="\n\n\n".join(functions) + "\n",
        imports=tuple(sorted(imports)),
        generator=generator,
        labels=("characterisation",),
    )


def render_observed(
    target: TestTarget,
    cases: Sequence[tuple[Call, Observation]],
    taken: set[str],
    conventions: TestConventions,
    observations: Iterable[Observation],
) -> TestCandidate | None:
    """The probe's chosen cases as a test in the team's framework, with the relations that held."""
    if not cases:
        return None
    cases = confirmed(cases, observations)
    if conventions.framework == "unittest":
        return render_unittest(target, cases, taken)
    return render_pytest(target, cases, taken, parametrize=conventions.parametrizes)


def render_unittest(
    target: TestTarget, cases: Sequence[tuple[Call, Observation]], taken: set[str], generator: str = "values"
) -> TestCandidate | None:
    """The same cases as methods of a TestCase, for teams whose tests are unittest classes."""
    if any(call.fixtures for call, _ in cases):
        return None  # fixtures do not reach unittest methods
    methods: list[str] = []
    names: list[str] = []
    imports = {target_import(target), "import unittest"}
    for call, observation in cases:
        if not observation.assertable:
            continue
        name = test_name(target, call, observation, taken)
        bound, assignments = bind(call, target) if observation.effects else (call, ())
        expression = bound.expression(target)
        imports |= set(call.imports) | value_imports(observation)
        lines = [f"    def {name}(self):", f'        """{CHARACTERISES}"""']
        lines += [f"        {variable} = {source}" for variable, source, _ in assignments]
        imports |= relation_imports(target, dict(observation.relations))
        pattern = message_pattern(observation.message) if observation.raised else None
        if observation.raised and pattern:
            lines += [
                f"        with self.assertRaisesRegex({observation.raised}, {pattern}):",
                f"            {expression}",
            ]
        elif observation.raised:
            lines += [f"        with self.assertRaises({observation.raised}):", f"            {expression}"]
        elif observation.relations:
            lines += [f"        result = {expression}", f"        self.assertEqual(result, {observation.value_repr})"]
            lines += [
                f"        self.assertTrue({check})"
                for check in relation_assertions(target, call, observation, "result")
            ]
        else:
            lines.append(f"        self.assertEqual({expression}, {observation.value_repr})")
        lines += [f"        self.assertTrue({check})" for check in effect_assertions(assignments, observation.effects)]
        methods.append("\n".join(lines))
        names.append(name)
    if not methods:
        return None
    class_name = f"Test{_camel(target.class_name or '')}{_camel(target.name)}"
    while class_name in taken:
        class_name += "Generated"
    taken.add(class_name)
    body = f"class {class_name}(unittest.TestCase):\n" + "\n\n".join(methods) + "\n"
    return TestCandidate(
        name=names[0],
        test_names=tuple(f"{class_name}::{name}" for name in names),
        body=body,
        imports=tuple(sorted(imports)),
        generator=generator,
        labels=("characterisation",),
    )


def _equals(expression: str, value_repr: str | None) -> str:
    """`x is None` where the value is None (a linter flags `== None`), else `x == value`."""
    return f"{expression} is None" if value_repr == "None" else f"{expression} == {value_repr}"


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower().strip("_")


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"_+", name) if part)
