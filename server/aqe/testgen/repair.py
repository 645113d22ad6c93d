"""Repair instead of discard: a candidate whose `assert value == expected` failed while `value` was
computed fine is rewritten with the value observed (a regression oracle, labelled as such).

The candidate is first run instrumented: each equality check records the repr of its left side
instead of comparing. Only when every check was observed, and every observed repr rebuilds an equal
value, is the test rewritten; it is then proven again like any other candidate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from tree_sitter import Node

from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language
from aqe.testgen.probe import holds_a_secret
from aqe.testgen.render import TestCandidate

REPAIR_NOTE = "# aqe: expected values observed from the current code (characterises its behaviour)"

_OBSERVER = """
def _aqe_seen(number, value):
    import json as _json
    import os as _os
    text = repr(value)
    kind = type(value)
    namespace = dict(globals())
    try:
        namespace[kind.__qualname__] = getattr(__import__(kind.__module__, fromlist=["_"]), kind.__qualname__)
    except Exception:
        pass
    try:
        rebuilt = eval(text, namespace) == value
    except BaseException:
        rebuilt = False
    with open(_os.environ["AQE_PROBE_OUTPUT"], "a", encoding="utf-8") as out:
        out.write(_json.dumps({"check": number, "repr": text[:2000], "roundtrip": rebuilt and len(text) <= 2000,
                               "type": kind.__qualname__, "module": kind.__module__}) + "\\n")
"""


@dataclass(frozen=True)
class Check:
    number: int
    start: int
    """Byte offsets (in the candidate's body) of the expected value to replace."""
    end: int


@dataclass(frozen=True)
class Instrumented:
    original: TestCandidate
    candidate: TestCandidate
    checks: tuple[Check, ...]


_counter = iter(range(1, 10**9))


def instrument_assertions(candidate: TestCandidate) -> Instrumented | None:
    """The candidate with each `assert a == b` (or `self.assertEqual(a, b)`) observing `a` instead."""
    data = candidate.body.encode("utf-8")
    document = ParsedDocument.parse("candidate.py", candidate.body, Language.PYTHON)
    found: list[tuple[Node, Node, Node]] = []  # (statement to replace, observed side, expected side)
    stack = [document.tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "assert_statement" and node.named_children:
            comparison = node.named_children[0]
            if (
                comparison.type == "comparison_operator"
                and len(comparison.named_children) == 2
                and b"==" in (data[comparison.named_children[0].end_byte : comparison.named_children[1].start_byte])
            ):
                found.append((node, comparison.named_children[0], comparison.named_children[1]))
                continue
        if node.type == "call" and data[node.start_byte : node.end_byte].startswith(b"self.assertEqual("):
            arguments = node.child_by_field_name("arguments")
            if arguments is not None and len(arguments.named_children) == 2:
                found.append((node, arguments.named_children[0], arguments.named_children[1]))
                continue
        stack.extend(node.children)
    if not found:
        return None
    found.sort(key=lambda item: item[0].start_byte)
    instrumented = bytearray()
    position = 0
    checks: list[Check] = []
    for statement, observed, expected in found:
        number = next(_counter)
        instrumented += data[position : statement.start_byte]
        instrumented += f"_aqe_seen({number}, ".encode() + data[observed.start_byte : observed.end_byte] + b")"
        position = statement.end_byte
        checks.append(Check(number, expected.start_byte, expected.end_byte))
    instrumented += data[position:]
    body = _OBSERVER + "\n\n" + instrumented.decode("utf-8")
    return Instrumented(candidate, TestCandidate(candidate.name, candidate.test_names, body, candidate.imports,
                                                 candidate.generator, candidate.labels), tuple(checks))  # fmt: skip


def observed_assertions(jsonl: str) -> dict[int, dict[str, object]]:
    seen: dict[int, dict[str, object]] = {}
    for line in jsonl.splitlines():
        try:
            record = json.loads(line)
            seen[int(record["check"])] = record
        except (ValueError, KeyError, TypeError):
            continue
    return seen


def rewrite_assertions(item: Instrumented, seen: dict[int, dict[str, object]]) -> TestCandidate | None:
    data = item.original.body.encode("utf-8")
    imports = set(item.original.imports)
    out = bytearray()
    position = 0
    for check in item.checks:
        record = seen.get(check.number)
        if record is None or not record.get("roundtrip"):
            return None  # a check that did not run, or a value no literal can state: not repairable
        if holds_a_secret(str(record["repr"])):
            return None  # never write a secret the code returned into a test file
        out += data[position : check.start] + str(record["repr"]).encode("utf-8")
        position = check.end
        module, name = record.get("module"), record.get("type")
        if isinstance(module, str) and isinstance(name, str) and module != "builtins" and "." not in name:
            imports.add(f"from {module} import {name}")
    out += data[position:]
    body = _label(out.decode("utf-8"))
    return TestCandidate(
        item.original.name,
        item.original.test_names,
        body,
        tuple(sorted(imports)),
        item.original.generator + "+repaired",
        (*item.original.labels, "characterisation", "repaired"),
    )


def _label(body: str) -> str:
    """The note goes on the line after each test's `def` (and its docstring, if it has one)."""
    lines = body.splitlines()
    out: list[str] = []
    for index, line in enumerate(lines):
        out.append(line)
        stripped = line.lstrip()
        if stripped.startswith(("def test", "async def test")) and line.rstrip().endswith(":"):
            indent = " " * (len(line) - len(stripped) + 4)
            following = lines[index + 1].strip() if index + 1 < len(lines) else ""
            if not following.startswith(('"""', "'''")):
                out.append(indent + REPAIR_NOTE)
    return "\n".join(out) + "\n"
