"""Assertions that say more than "this call returned that": the stable part of an error's message,
the relations that held on the observed values, and several cases of one shape as one parametrised
test (when the team's tests are written that way).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aqe.testgen.probe import Observation
from aqe.testgen.relations import IDEMPOTENT, INVERSE
from aqe.testgen.target import TestTarget
from aqe.testgen.values import Call, Value

CHARACTERISES = "Characterises the current behaviour (expected values observed by aqe)."
_MIN_MESSAGE = 8
_MAX_MESSAGE = 80
# Where a message stops being stable from run to run: addresses, paths, set/dict reprs, object reprs.
_UNSTABLE = re.compile(r"0x[0-9a-fA-F]+|[/\\{}<]|\bat \d")


def message_pattern(message: str | None) -> str | None:
    """A `match=` pattern (Python source) for the stable start of an exception's message, or None
    when too little of it is stable to be worth pinning down."""
    if not message:
        return None
    text = message.splitlines()[0] if message.strip() else ""
    unstable = _UNSTABLE.search(text)
    if unstable is not None:
        text = text[: unstable.start()]
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE].rsplit(" ", 1)[0]
    text = text.rstrip()
    if len(text) < _MIN_MESSAGE:
        return None
    escaped = re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", text)  # re.escape would also escape every space
    if '"' not in escaped and not escaped.endswith("\\") and "\n" not in escaped:
        return f'r"{escaped}"'
    return repr(escaped)


def relation_assertions(target: TestTarget, call: Call, observation: Observation, result: str) -> list[str]:
    """`f(result) == result` for idempotence, `g(result) == argument` for a round trip."""
    checks: list[str] = []
    argument = call.arguments[0][1].source if call.arguments else ""
    for name, held in observation.relations:
        if not held:
            continue
        if name == IDEMPOTENT:
            checks.append(f"{target.call_prefix}({result}) == {result}")
        elif name.startswith(INVERSE):
            checks.append(f"{name.removeprefix(INVERSE)}({result}) == {argument}")
    return checks


def parametrizable_groups(cases: Sequence[tuple[Call, Observation]]) -> list[list[tuple[Call, Observation]]]:
    """Cases that differ only in their arguments and expected value (same parameters, no fixtures,
    no receiver, same relations), two or more to a group."""
    groups: dict[tuple[object, ...], list[tuple[Call, Observation]]] = {}
    for call, observation in cases:
        if observation.raised is not None or call.receiver is not None or call.fixtures or observation.effects:
            continue
        shape = (tuple(parameter for parameter, _ in call.arguments), observation.relations)
        groups.setdefault(shape, []).append((call, observation))
    return [group for group in groups.values() if len(group) > 1]


def render_parametrized(target: TestTarget, name: str, group: Sequence[tuple[Call, Observation]]) -> str:
    first_call, first_observation = group[0]
    parameters = [parameter for parameter, _ in first_call.arguments]
    expected = "expected"
    while expected in {parameter.name for parameter in parameters}:
        expected = f"{expected}_value"
    names = [parameter.name for parameter in parameters] + [expected]
    placeholder = Call(tuple((parameter, Value(parameter.name, "")) for parameter in parameters))
    rows = [
        f"        ({', '.join([*(value.source for _, value in call.arguments), observation.value_repr or 'None'])}),"
        for call, observation in group
    ]
    argnames = ", ".join(f'"{n}"' for n in names)
    lines = ["@pytest.mark.parametrize(", f"    ({argnames}),", "    [", *rows, "    ],", ")"]
    lines += [f"def {name}({', '.join(names)}):", f'    """{CHARACTERISES}"""']
    lines.append(f"    assert {placeholder.expression(target)} == {expected}")
    for relation, _ in first_observation.relations:
        if relation == IDEMPOTENT:
            lines.append(f"    assert {target.call_prefix}({expected}) == {expected}")
        elif relation.startswith(INVERSE) and len(parameters) == 1:
            lines.append(f"    assert {relation.removeprefix(INVERSE)}({expected}) == {parameters[0].name}")
    return "\n".join(lines)
