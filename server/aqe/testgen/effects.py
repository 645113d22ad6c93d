"""Side effects a test can state: what a call did to the list or dict it was given, and to the object
whose method it is (`cart.add(item)` returns None; what matters is `cart.items` afterwards).

The arguments that can change (list, dict and set displays) and the receiver are bound to names
before the call, so the probe can compare them before and after, and the test can assert on them.
"""

from __future__ import annotations

import re
from dataclasses import replace

from aqe.testgen.target import TestTarget
from aqe.testgen.values import Call

RECEIVER = "self"
_MUTABLE = re.compile(r"^(\[|\{|(set|dict|list|bytearray|collections\.\w+)\()")


def bind(call: Call, target: TestTarget, prefix: str = "") -> tuple[Call, tuple[tuple[str, str, str], ...]]:
    """The call with its mutable arguments and receiver replaced by variables, and the assignments
    that create them: (variable, source, what it is: a parameter name or `self`)."""
    assignments: list[tuple[str, str, str]] = []
    arguments = []
    for parameter, value in call.arguments:
        if parameter.kind in ("positional", "keyword") and _MUTABLE.match(value.source):
            variable = prefix + parameter.name
            assignments.append((variable, value.source, parameter.name))
            value = replace(value, source=variable)
        arguments.append((parameter, value))
    receiver = call.receiver
    if target.binding == "method" and receiver is not None:
        taken = {parameter.name for parameter, _ in call.arguments}
        variable = _snake(target.class_name or "instance")
        variable = prefix + (variable if variable not in taken and variable != target.name else f"{variable}_object")
        assignments.append((variable, receiver.source, RECEIVER))
        receiver = replace(receiver, source=variable)
    return replace(call, arguments=tuple(arguments), receiver=receiver), tuple(assignments)


def effects_expression(assignments: tuple[tuple[str, str, str], ...]) -> str:
    """The probe's view of the bound things: a lambda returning them by name."""
    return "lambda: {" + ", ".join(f"{role!r}: {variable}" for variable, _, role in assignments) + "}"


def effect_assertions(assignments: tuple[tuple[str, str, str], ...], effects: tuple[tuple[str, str], ...]) -> list[str]:
    """`items == [...]` for an argument the call changed, `cart.total == 5` for the receiver's state."""
    variables = {role: variable for variable, _, role in assignments}
    checks: list[str] = []
    for name, value_repr in effects:
        if name.startswith(RECEIVER + ".") and RECEIVER in variables:
            checks.append(f"{variables[RECEIVER]}.{name.removeprefix(RECEIVER + '.')} == {value_repr}")
        elif name in variables:
            checks.append(f"{variables[name]} == {value_repr}")
    return checks


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower().strip("_") or "instance"
