"""Observing what the code does: a pytest module that makes each candidate call and records how it
ended (its value's repr, or the exception), one JSON line per call.

It runs in the sandbox under coverage with a context per test, so each call's lines and branches of
the target are known too: the calls worth keeping are those that reach something new. Run under
pytest so the team's fixtures (from conftest.py) can stand in for arguments.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aqe.testgen.effects import bind, effects_expression
from aqe.testgen.relations import relation_checks, relation_imports
from aqe.testgen.target import TestTarget
from aqe.testgen.values import Call

PROBE_FILE = "test_aqe_probe.py"
OUTPUT_VARIABLE = "AQE_PROBE_OUTPUT"
PROBE_PREFIX = "test_aqe_probe_"
CALL_TIMEOUT_S = 2.0
MAX_CASES = 6

_HELPERS = """
import asyncio as _aqe_asyncio
import json as _aqe_json
import os as _aqe_os
import signal as _aqe_signal


class _AqeProbeTimeout(BaseException):
    pass


def _aqe_alarm(signum, frame):
    raise _AqeProbeTimeout()


def _aqe_roundtrips(text, value):
    namespace = dict(globals())
    kind = type(value)
    try:
        namespace[kind.__qualname__] = getattr(__import__(kind.__module__, fromlist=["_"]), kind.__qualname__)
    except Exception:
        pass
    try:
        return eval(text, namespace) == value  # the repr must rebuild an equal value to be asserted
    except BaseException:
        return False


def _aqe_relations(value, checks):
    held = {}
    for name, check in checks.items():
        try:
            held[name] = bool(check(value))
        except Exception:
            held[name] = False
    return held


def _aqe_snapshot(effects):
    seen = {}
    for role, thing in (effects() if effects else {}).items():
        if role == "self":
            seen.update(("self." + k, v) for k, v in getattr(thing, "__dict__", {}).items() if not k.startswith("_"))
        else:
            seen[role] = thing
    return seen


def _aqe_changed(before, effects):
    changed = {}
    for name, value in _aqe_snapshot(effects).items():
        text = repr(value)
        if before.get(name) != text and len(text) <= 2000 and _aqe_roundtrips(text, value):
            changed[name] = text
    return changed


def _aqe_observe(number, call, checks=None, effects=None):
    record = {"n": number}
    previous = _aqe_signal.signal(_aqe_signal.SIGALRM, _aqe_alarm)
    _aqe_signal.setitimer(_aqe_signal.ITIMER_REAL, {timeout})
    try:
        before = {name: repr(value) for name, value in _aqe_snapshot(effects).items()}
        value = call()
        if _aqe_asyncio.iscoroutine(value):
            value = _aqe_asyncio.run(value)
        else:
            record["relations"] = _aqe_relations(value, checks or {})
            record["effects"] = _aqe_changed(before, effects)
    except _AqeProbeTimeout:
        record["timeout"] = True
    except Exception as error:
        kind = type(error)
        record.update(raised=kind.__qualname__, raised_module=kind.__module__, message=str(error)[:300])
    else:
        _aqe_signal.setitimer(_aqe_signal.ITIMER_REAL, 0)
        text = repr(value)
        record.update(
            repr=text[:2000], type=type(value).__qualname__, module=type(value).__module__,
            roundtrip=len(text) <= 2000 and _aqe_roundtrips(text, value),
        )
    finally:
        _aqe_signal.setitimer(_aqe_signal.ITIMER_REAL, 0)
        _aqe_signal.signal(_aqe_signal.SIGALRM, previous)
    _aqe_write(record)


def _aqe_write(record):
    with open(_aqe_os.environ["{variable}"], "a", encoding="utf-8") as output:
        output.write(_aqe_json.dumps(record) + "\\n")


def _aqe_import_failed(error):
    _aqe_write({"import_error": (type(error).__name__ + ": " + str(error))[:500]})
"""


def import_error(jsonl: str) -> str | None:
    """Why the module under test could not be imported, when the probe says so."""
    for line in jsonl.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "import_error" in record:
            return str(record["import_error"])
    return None


@dataclass(frozen=True)
class Observation:
    number: int
    value_repr: str | None = None
    value_type: str | None = None
    value_module: str | None = None
    roundtrip: bool = False
    raised: str | None = None
    raised_module: str | None = None
    message: str | None = None
    timeout: bool = False
    relations: tuple[tuple[str, bool], ...] = ()
    """Relation name (`idempotent`, `inverse:underscore`) -> whether it held on this call's value."""
    effects: tuple[tuple[str, str], ...] = ()
    """What the call changed: an argument (`items`) or the receiver's attribute (`self.total`) -> its
    repr afterwards (only reprs that rebuild an equal value)."""

    @property
    def assertable(self) -> bool:
        """A value a test can state (its repr rebuilds it), or an exception it can expect."""
        if self.timeout:
            return False
        if self.raised is not None:
            return self.raised_module not in (None, "builtins") or self.raised not in _ACCIDENTAL_ERRORS
        return self.roundtrip and self.value_repr is not None and not holds_a_secret(self.value_repr)


def holds_a_secret(value_repr: str) -> bool:
    """A value the privacy redaction would hide (a key read from a file, a token): a generated test
    must never write it into the project's tests, where it would be committed."""
    from aqe.privacy.redaction import redact

    return bool(redact(f"value = {value_repr}").findings)


# Errors that say the probe built a nonsensical call, not that the code checks its input.
_ACCIDENTAL_ERRORS = frozenset(
    {"AttributeError", "NameError", "RecursionError", "ImportError", "ModuleNotFoundError", "TypeError"}
)


def target_import(target: TestTarget) -> str:
    name = target.class_name or target.name
    return f"from {target.location.module} import {name}"


def probe_module(target: TestTarget, calls: Sequence[Call]) -> str:
    checks = [relation_checks(target, call) for call in calls]
    imports = sorted(
        {target_import(target), *(line for call in calls for line in call.imports)}
        | {line for found in checks for line in relation_imports(target, found)}
    )
    lines = ["# Generated by aqe to observe the code under test; never kept in the project."]
    lines.append(_HELPERS.replace("{timeout}", repr(CALL_TIMEOUT_S)).replace("{variable}", OUTPUT_VARIABLE))
    # A module that cannot be imported (a missing dependency, a script that exits at import) is
    # reported by name and reason, not as pytest's collection traceback.
    lines += ["try:", *(f"    {line}" for line in imports), "except BaseException as _aqe_error:",
              "    _aqe_import_failed(_aqe_error)", "    raise"]  # fmt: skip
    for number, (call, found) in enumerate(zip(calls, checks, strict=True)):
        fixtures = ", ".join(sorted(call.fixtures))
        relations = "{" + ", ".join(f"{name!r}: {check}" for name, check in found.items()) + "}"
        bound, assignments = bind(call, target, prefix="_aqe_")
        effects = effects_expression(assignments) if assignments else "None"
        lines += ["", f"def {PROBE_PREFIX}{number}({fixtures}):"]
        lines += [f"    {variable} = {source}" for variable, source, _ in assignments]
        lines.append(f"    _aqe_observe({number}, lambda: {bound.expression(target)}, {relations}, {effects})")
    return "\n".join(lines) + "\n"


def read_observations(jsonl: str) -> dict[int, Observation]:
    """The probe's output; a line torn by a killed run is skipped."""
    observations: dict[int, Observation] = {}
    for line in jsonl.splitlines():
        try:
            record = json.loads(line)
            number = int(record["n"])
        except (ValueError, KeyError, TypeError):
            continue
        observations[number] = Observation(
            number=number,
            value_repr=record.get("repr"),
            value_type=record.get("type"),
            value_module=record.get("module"),
            roundtrip=bool(record.get("roundtrip")),
            raised=record.get("raised"),
            raised_module=record.get("raised_module"),
            message=record.get("message"),
            timeout=bool(record.get("timeout")),
            relations=_relations(record.get("relations")),
            effects=_effects(record.get("effects")),
        )
    return observations


def _relations(raw: object) -> tuple[tuple[str, bool], ...]:
    if not isinstance(raw, dict):
        return ()
    return tuple(sorted((str(name), bool(held)) for name, held in raw.items()))


def _effects(raw: object) -> tuple[tuple[str, str], ...]:
    """What the call changed, without any value the privacy redaction would hide (see holds_a_secret)."""
    if not isinstance(raw, dict):
        return ()
    return tuple(sorted((str(name), str(text)) for name, text in raw.items() if not holds_a_secret(str(text))))


def stable(first: dict[int, Observation], second: dict[int, Observation]) -> set[int]:
    """Calls that ended the same way twice: a value that changes between runs is not an oracle."""
    return {number for number, seen in first.items() if second.get(number) == seen}


def greedy_cover(
    coverage_by_call: dict[int, set[object]], baseline: set[object], candidates: Iterable[int]
) -> list[int]:
    """The fewest calls that together reach everything any of them reaches beyond the baseline
    (greedy set cover: the usual good-enough answer to an NP-hard question)."""
    remaining = {n: coverage_by_call.get(n, set()) - baseline for n in candidates}
    chosen: list[int] = []
    covered: set[object] = set()
    while True:
        best = max(remaining, key=lambda n: (len(remaining[n] - covered), -n), default=None)
        if best is None or not remaining[best] - covered:
            return chosen
        chosen.append(best)
        covered |= remaining.pop(best)


def choose_cases(
    calls: Sequence[Call], observations: dict[int, Observation], by_call: dict[int, set[object]], baseline: set[object]
) -> list[int]:
    """The calls to assert: the fewest that reach every arc any call reaches, then a few more that end
    differently from all of those (`ordinal(2) == "nd"` runs no new line after `ordinal(1)`, but a
    test that never sees "nd" lets its table entry change unnoticed). Among the extra ones, calls
    whose value differs from their argument come first: there the function did its work."""
    assertable = [n for n, seen in observations.items() if seen.assertable and n < len(calls)]
    chosen = greedy_cover(by_call, baseline, assertable)
    if not chosen:
        return chosen
    seen = {_outcome(observations[n]) for n in chosen}
    extra: list[int] = []
    for number in sorted(assertable, key=lambda n: (_unchanged(calls[n], observations[n]), n)):
        if len(chosen) + len(extra) >= MAX_CASES:
            break
        outcome = _outcome(observations[number])
        if number not in chosen and outcome not in seen:
            seen.add(outcome)
            extra.append(number)
    return chosen + extra


def _outcome(observation: Observation) -> tuple[str | None, str | None]:
    return (observation.raised, observation.value_repr if observation.raised is None else None)


def _unchanged(call: Call, observation: Observation) -> bool:
    """The function handed back its (only) argument: nothing of its logic shows in the value."""
    if len(call.arguments) != 1 or observation.value_repr is None:
        return False
    try:
        return ast.literal_eval(call.arguments[0][1].source) == ast.literal_eval(observation.value_repr)
    except (ValueError, SyntaxError):
        return False
