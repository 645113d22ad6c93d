"""Review rules for defect-prone Python code (tests included).

They aim at what ruff leaves out or only reports under rules that are off by default, and each
rationale names the ruff rule it overlaps, so a project running both knows which one to silence.
Every rule makes at most one pass over the tree: they run on each keystroke after a debounce.
QE201 lives in `broad_except` and QE203 in `complexity`; `RULES` lists all five.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from tree_sitter import Node

from aqe.findings import Finding, FindingTag, Fix, Severity, TextEdit
from aqe.parsing.source import SourceText
from aqe.review.rules.base import Rule, RuleContext, RuleInfo, node_text, walk
from aqe.review.rules.broad_except import BroadExceptSwallowed
from aqe.review.rules.complexity import TooComplex, cyclomatic_complexity
from aqe.review.rules.python_code_shapes import (
    _PYTHON,
    _end_row,
    _first_child_of_type,
    _is_python,
    _leading_whitespace,
    _line_break_of,
    _snippet,
    _start_row,
    _starts_its_line,
    _statements,
)

# --- QE202 mutable-default-argument ---------------------------------------------------------------

_MUTABLE_DISPLAYS = frozenset(
    {"list", "dictionary", "set", "list_comprehension", "dictionary_comprehension", "set_comprehension"}
)
_MUTABLE_FACTORIES = frozenset(
    {"list", "dict", "set", "bytearray", "defaultdict", "deque", "OrderedDict", "Counter"}
    | {f"collections.{name}" for name in ("defaultdict", "deque", "OrderedDict", "Counter")}
)
_OPTIONAL_NAMES = frozenset({"Optional", "typing.Optional", "t.Optional"})
_UNION_NAMES = frozenset({"Union", "typing.Union", "t.Union"})
_NONE_IN_STRING_ANNOTATION = re.compile(r"\bNone\b|\bOptional\[")


_READ_ONLY_TYPES = frozenset(
    {"Sequence", "Iterable", "Collection", "Mapping", "AbstractSet", "Tuple", "tuple", "frozenset", "FrozenSet",
     "Container", "Reversible"}
)  # fmt: skip


def _promises_no_mutation(annotation: Node | None) -> bool:
    """`params: Sequence[X] = []` says the function never mutates it; `Annotated[list[str],
    typer.Option()] = ["World"]` hands the default to a framework that copies it (typer, FastAPI)."""
    if annotation is None:
        return False
    inner = annotation.named_children[0] if annotation.named_child_count == 1 else annotation
    head = inner.named_children[0] if inner.type in ("generic_type", "subscript") and inner.named_children else inner
    name = node_text(head).rsplit(".", 1)[-1]
    if name == "Annotated":
        return any(n.type == "call" for n in walk(inner))
    return name in _READ_ONLY_TYPES


def _is_mutable_default(value: Node) -> bool:
    if value.type in _MUTABLE_DISPLAYS:
        return True
    if value.type == "call":
        function = value.child_by_field_name("function")
        return "".join(node_text(function).split()) in _MUTABLE_FACTORIES
    return False


def _annotation_allows_none(expression: Node) -> bool:
    kind = expression.type
    if kind == "none":
        return True
    if kind in ("type", "union_type", "binary_operator", "type_parameter"):
        return any(_annotation_allows_none(child) for child in expression.named_children)
    if kind == "string":
        return bool(_NONE_IN_STRING_ANNOTATION.search(node_text(expression)))
    if kind in ("generic_type", "subscript"):
        head = expression.named_children[0] if expression.named_children else None
        head_name = "".join(node_text(head).split())
        if head_name in _OPTIONAL_NAMES:
            return True
        if head_name in _UNION_NAMES:
            return any(_annotation_allows_none(child) for child in expression.named_children[1:])
    return False


def _widen_annotation(ctx: RuleContext, annotation: Node) -> TextEdit | None:
    """`X` becomes `X | None`; a string annotation gets it inside the quotes (`"X" | None` fails)."""
    if _annotation_allows_none(annotation):
        return None
    inner = annotation.named_children[0] if annotation.named_child_count == 1 else annotation
    if inner.type == "string":
        closing = _first_child_of_type(inner, "string_end")
        if closing is None:
            return None
        return ctx.edit(closing.start_byte, closing.start_byte, " | None")
    return ctx.edit(annotation.end_byte, annotation.end_byte, " | None")


@dataclass(frozen=True)
class _GuardPlacement:
    """Where the `if name is None:` guard goes: an insertion, or a rewrite of a one-line body."""

    start_byte: int
    end_byte: int
    indent: str
    indent_unit: str
    block_prefix: bool
    """True when the body was on the `def` line: the guard opens the block and the body follows."""
    after_line: bool
    """True when the guard goes at the end of the docstring's line rather than before a statement."""


def _guard_placement(source: SourceText, function: Node) -> _GuardPlacement | None:
    body = function.child_by_field_name("body")
    if body is None:
        return None
    statements = _statements(body)
    if not statements:
        return None
    first = statements[0]
    def_indent = _leading_whitespace(source, _start_row(source, function))
    is_docstring = (
        first.type == "expression_statement"
        and first.named_child_count == 1
        and first.named_children[0].type in ("string", "concatenated_string")
    )
    if not _starts_its_line(source, first):
        if is_docstring:
            return None
        colon = body.prev_sibling
        if colon is None or colon.type != ":":
            return None
        unit = "\t" if def_indent.startswith("\t") else "    "
        return _GuardPlacement(colon.end_byte, first.start_byte, def_indent + unit, unit, True, False)
    indent = _leading_whitespace(source, _start_row(source, first))
    extra = indent[len(def_indent) :] if indent.startswith(def_indent) else ""
    unit = extra or ("\t" if indent.startswith("\t") else "    ")
    if is_docstring:
        following = statements[1] if len(statements) > 1 else None
        if following is not None and _start_row(source, following) == _end_row(source, first):
            return None
        line_end = source.line_end_byte(_end_row(source, first))
        return _GuardPlacement(line_end, line_end, indent, unit, False, True)
    line_start = source.line_starts[_start_row(source, first)]
    return _GuardPlacement(line_start, line_start, indent, unit, False, False)


def _none_default_fix(ctx: RuleContext, function: Node, parameter: Node) -> Fix | None:
    if function.has_error:
        return None
    source = ctx.document.source
    name = node_text(parameter.child_by_field_name("name"))
    value = parameter.child_by_field_name("value")
    placement = _guard_placement(source, function)
    if not name or value is None or placement is None:
        return None
    nl = _line_break_of(source, _start_row(source, function))
    inner_indent = placement.indent + placement.indent_unit
    guard = f"{placement.indent}if {name} is None:{nl}{inner_indent}{name} = {node_text(value)}"
    if placement.block_prefix:
        new_text = f"{nl}{guard}{nl}{placement.indent}"
    elif placement.after_line:
        new_text = f"{nl}{guard}"
    else:
        new_text = f"{guard}{nl}"
    edits: list[TextEdit] = []
    annotation = parameter.child_by_field_name("type")
    if annotation is not None:
        widened = _widen_annotation(ctx, annotation)
        if widened is not None:
            edits.append(widened)
    edits.append(ctx.edit(value.start_byte, value.end_byte, "None"))
    edits.append(ctx.edit(placement.start_byte, placement.end_byte, new_text))
    return Fix("Use None and create the value inside", tuple(edits))


class MutableDefaultArgument(Rule):
    info = RuleInfo(
        id="QE202",
        name="mutable-default-argument",
        default_severity=Severity.WARNING,
        languages=_PYTHON,
        summary="A mutable default value is created once and shared by every call.",
        rationale=(
            "Defaults are evaluated when the `def` runs, not per call, so a list, dict, set or "
            "similar default keeps what earlier calls put in it: state leaks between calls and "
            "between tests. Default to `None` and create the value inside the function. This is "
            "ruff's B006; aqe reports it in the editor without a ruff setup, and lambdas too "
            "(without a fix, as a lambda has no body to put the guard in). A parameter annotated "
            "with a read-only type (`Sequence`, `Iterable`, `Mapping`, ...) or with `Annotated[..., "
            "Option(...)]` metadata for a framework that copies defaults (typer, FastAPI) is not reported."
        ),
        has_fix=True,
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        if not _is_python(ctx):
            return
        for node in ctx.nodes_of_type("function_definition", "lambda"):
            parameters = node.child_by_field_name("parameters")
            if parameters is None:
                continue
            for parameter in parameters.named_children:
                if parameter.type not in ("default_parameter", "typed_default_parameter"):
                    continue
                value = parameter.child_by_field_name("value")
                if value is None or not _is_mutable_default(value):
                    continue
                if _promises_no_mutation(parameter.child_by_field_name("type")):
                    continue
                name = node_text(parameter.child_by_field_name("name"))
                is_lambda = node.type == "lambda"
                advice = "" if is_lambda else ": use None and create it inside"
                yield ctx.report(
                    self.info,
                    value,
                    f"Default `{_snippet(node_text(value), 40)}` of `{name}` is created once and "
                    f"shared by every call{advice}",
                    fix=None if is_lambda else _none_default_fix(ctx, node, parameter),
                )


# --- QE204 unreachable-code -----------------------------------------------------------------------

_JUMPS = {
    "return_statement": "`return`",
    "raise_statement": "`raise`",
    "continue_statement": "`continue`",
    "break_statement": "`break`",
}


class _Terminality:
    """Which blocks always leave through a jump, memoised so nested if/else chains stay linear."""

    def __init__(self) -> None:
        self._first_jump: dict[int, int | None] = {}

    def first_jump(self, block: Node, statements: list[Node] | None = None) -> int | None:
        """Index of the first statement of `block` after which nothing in the block runs."""
        key = block.id
        if key not in self._first_jump:
            found = None
            for index, statement in enumerate(statements if statements is not None else _statements(block)):
                if self.always_jumps(statement):
                    found = index
                    break
            self._first_jump[key] = found
        return self._first_jump[key]

    def always_jumps(self, statement: Node) -> bool:
        if statement.type in _JUMPS:
            return True
        if statement.type != "if_statement":
            return False
        branches = [statement.child_by_field_name("consequence")]
        has_else = False
        for alternative in statement.children_by_field_name("alternative"):
            if alternative.type == "elif_clause":
                branches.append(alternative.child_by_field_name("consequence"))
            elif alternative.type == "else_clause":
                branches.append(alternative.child_by_field_name("body"))
                has_else = True
        return has_else and all(b is not None and self.first_jump(b) is not None for b in branches)


def _deletion_range(source: SourceText, jump: Node, dead: list[Node]) -> tuple[int, int]:
    """Whole lines, with the blank lines just above them, when the dead code starts its own line;
    otherwise (`return x; y()`) the text from the end of the jump, so the jump's line stays."""
    first, last = dead[0], dead[-1]
    if not _starts_its_line(source, first):
        return jump.end_byte, last.end_byte
    first_row = _start_row(source, first)
    while first_row - 1 > _end_row(source, jump) and not source.line_bytes(first_row - 1).strip():
        first_row -= 1
    start = source.line_starts[first_row]
    next_row = _end_row(source, last) + 1
    end = source.line_starts[next_row] if next_row < source.line_count else len(source.data)
    return start, end


_SCOPES = frozenset({"function_definition", "lambda", "class_definition"})


def _contains_own_yield(statements: list[Node]) -> bool:
    """`return` then `yield` is the empty-generator idiom: the dead `yield` makes the function a
    generator, so deleting it would change what the function returns."""
    pending = list(statements)
    while pending:
        node = pending.pop()
        if node.type == "yield":
            return True
        if node.type not in _SCOPES:
            pending.extend(node.named_children)
    return False


class UnreachableCode(Rule):
    info = RuleInfo(
        id="QE204",
        name="unreachable-code",
        default_severity=Severity.WARNING,
        languages=_PYTHON,
        summary="Statements after a return, raise, continue or break in the same block never run.",
        rationale=(
            "Code after a jump, or after an if/elif/else whose every branch jumps, is dead: it is "
            "usually a leftover from a refactoring or a misplaced early return, and readers assume "
            "it runs. Delete it, or move the jump. The rule is conservative (it does not reason "
            "about loops, `try`, `with` or `sys.exit()`), so it never reports code that can run, "
            "nor a dead `yield` (the `return; yield` empty-generator idiom). ruff has no stable "
            "rule for this."
        ),
        has_fix=True,
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        if not _is_python(ctx):
            return
        terminality = _Terminality()
        source = ctx.document.source
        for node in ctx.nodes_of_type("block"):  # a module-level `raise` is deliberate (an import that must fail)
            if node.has_error:
                continue
            statements = _statements(node)
            index = terminality.first_jump(node, statements)
            if index is None or index + 1 >= len(statements):
                continue
            jump, dead = statements[index], statements[index + 1 :]
            if _contains_own_yield(dead):
                continue
            cause = _JUMPS.get(jump.type, "an if/else whose every branch jumps")
            start, end = _deletion_range(source, jump, dead)
            yield ctx.report(
                self.info,
                source.span_of_bytes(dead[0].start_byte, dead[-1].end_byte),
                f"Unreachable code: it follows {cause} and never runs",
                fix=Fix("Remove unreachable code", (ctx.edit(start, end, ""),)),
                tags=(FindingTag.UNNECESSARY,),
            )


# --- QE205 todo-comment ---------------------------------------------------------------------------

# Not `pyre-fixme` (a type-checker suppression) nor a file name such as `TODO.md`.
_TODO_MARKER = re.compile(r"(?<!-)\b(?:(?i:TODO|FIXME)|XXX|HACK)\b(?!\.\w)")


class TodoComment(Rule):
    info = RuleInfo(
        id="QE205",
        name="todo-comment",
        default_severity=Severity.HINT,
        languages=_PYTHON,
        summary="A TODO, FIXME, XXX or HACK comment marks known unfinished or fragile code.",
        rationale=(
            "These markers record a known gap that is easy to forget once the code ships. Listing "
            "them as hints keeps them visible during review: resolve them, or move them to the "
            "issue tracker and link it. A note that continues over several comment lines is "
            "reported once. ruff's FIX001-FIX004 and TD rules cover the same ground but are not "
            "enabled by default."
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        if not _is_python(ctx):
            return
        source = ctx.document.source
        previous: tuple[int, int] | None = None  # (row, column) of the last full-line comment
        note_reported = False
        for node in ctx.nodes_of_type("comment"):
            text = node_text(node)
            row, column = source.point_at_byte(node.start_byte)
            own_line = _starts_its_line(source, node)
            continues_note = own_line and previous == (row - 1, column)
            previous = (row, column) if own_line else None
            if not continues_note:
                note_reported = False
            match = _TODO_MARKER.search(text)
            if match is None:
                continue
            starts_new_note = _TODO_MARKER.match(text.lstrip("#").lstrip()) is not None
            if continues_note and note_reported and not starts_new_note:
                continue  # the second line of a note already reported
            note_reported = True
            yield ctx.report(
                self.info,
                node,
                f"{match.group().upper()} comment: {_snippet(text.lstrip('#').strip())}",
            )


__all__ = ["RULES", "BroadExceptSwallowed", "TooComplex", "cyclomatic_complexity"]

RULES: list[type[Rule]] = [
    BroadExceptSwallowed,
    MutableDefaultArgument,
    TooComplex,
    UnreachableCode,
    TodoComment,
]
