"""Relations a test can state beyond "this call returned that": round trips between a function and its
inverse in the same module (`underscore(camelize(x)) == x`), and idempotence (`f(f(x)) == f(x)`).

A relation is never assumed from a name alone: the probe evaluates it on the values it observed, a
round trip is asserted only for a call where it held, and idempotence only when it held on every
call the probe made. A name pair is just where to look.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from aqe.testgen.target import TestTarget
from aqe.testgen.values import Call

if TYPE_CHECKING:
    from aqe.testgen.probe import Observation

IDEMPOTENT = "idempotent"
INVERSE = "inverse:"
_PAIRS = (
    ("camelize", "underscore"), ("encode", "decode"), ("dumps", "loads"), ("dump", "load"),
    ("serialize", "deserialize"), ("pack", "unpack"), ("compress", "decompress"), ("escape", "unescape"),
    ("quote", "unquote"), ("encrypt", "decrypt"), ("pluralize", "singularize"), ("to", "from"),
    ("marshal", "unmarshal"), ("encode", "parse"), ("format", "parse"),
)  # fmt: skip


def inverse_names(name: str) -> list[str]:
    """Names the inverse of `name` would have: `camelize` -> `underscore`, `to_json` -> `from_json`,
    `celsius_to_fahrenheit` -> `fahrenheit_to_celsius`, `b64encode` -> `b64decode`."""
    names: list[str] = []
    pieces = name.split("_")
    for first, second in _PAIRS:
        for this, other in ((first, second), (second, first)):
            if this in pieces:
                names.append("_".join(other if piece == this else piece for piece in pieces))
            elif name.endswith(this) and this not in ("to", "from"):
                names.append(name[: -len(this)] + other)
    if len(pieces) == 3 and pieces[1] == "to":
        names.append(f"{pieces[2]}_to_{pieces[0]}")
    return [other for other in dict.fromkeys(names) if other != name and re.fullmatch(r"[A-Za-z_]\w*", other)]


def relation_checks(target: TestTarget, call: Call) -> dict[str, str]:
    """Relation name -> a Python lambda over the call's value that is True when the relation holds,
    for calls with one plain argument (a relation over several arguments says little)."""
    if target.binding == "method" or call.receiver is not None or call.fixtures or len(call.arguments) != 1:
        return {}
    parameter, argument = call.arguments[0]
    if parameter.kind != "positional":
        return {}
    callee = target.call_prefix
    checks = {IDEMPOTENT: f"lambda _value: {callee}(_value) == _value"}
    if target.binding == "function":
        defined = {name for name, origin in target.imported_names.items() if origin == ""}
        for inverse in inverse_names(target.name):
            if inverse in defined:
                checks[INVERSE + inverse] = f"lambda _value: {inverse}(_value) == {argument.source}"
    return checks


def relation_imports(target: TestTarget, checks: Iterable[str]) -> set[str]:
    return {f"from {target.location.module} import {n.removeprefix(INVERSE)}" for n in checks if n.startswith(INVERSE)}


def confirmed(
    cases: Sequence[tuple[Call, Observation]], everything: Iterable[Observation]
) -> list[tuple[Call, Observation]]:
    """The cases with only the relations worth asserting: a round trip where it held, idempotence
    when it held on every call it was tried on (at least two)."""
    tried = [o for o in everything if o.raised is None and any(name == IDEMPOTENT for name, _ in o.relations)]
    idempotent = len(tried) >= 2 and all(dict(o.relations).get(IDEMPOTENT) for o in tried)
    kept: list[tuple[Call, Observation]] = []
    for call, observation in cases:
        relations = tuple(
            (name, True)
            for name, holds in observation.relations
            if holds and (name.startswith(INVERSE) or (name == IDEMPOTENT and idempotent))
        )
        kept.append((call, replace(observation, relations=relations)))
    return kept
