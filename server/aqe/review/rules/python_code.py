"""Review rules for defect-prone Python code (tests included).

They aim at what ruff leaves out or only reports under rules that are off by default, and each
rationale names the ruff rule it overlaps, so a project running both knows which one to silence.
Every rule makes at most one pass over the tree: they run on each keystroke after a debounce.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from tree_sitter import Node

from aqe.findings import Finding, FindingTag, Fix, Severity, TextEdit
from aqe.parsing.languages import Language
from aqe.parsing.source import SourceText
from aqe.review.rules.base import Rule, RuleContext, RuleInfo, node_text, walk
from aqe.review.rules.complexity import TooComplex, cyclomatic_complexity

_PYTHON = frozenset({Language.PYTHON})
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_MESSAGE_SNIPPET = 80


def _is_python(ctx: RuleContext) -> bool:
    return ctx.document.language is Language.PYTHON


def _statements(block: Node) -> list[Node]:
    return [child for child in block.named_children if child.type != "comment"]


def _first_child_of_type(node: Node, type_name: str) -> Node | None:
    for child in node.children:
        if child.type == type_name:
            return child
    return None


def _snippet(text: str, limit: int = _MESSAGE_SNIPPET) -> str:
    """Collapse whitespace so a multi-line construct reads as one line in a diagnostic."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _line_break_of(source: SourceText, row: int) -> str:
    """The break ending `row`, else the file's first one: inserted lines must match the file."""
    end = source.line_end_byte(row)
    following = source.data[end : end + 2]
    if following.startswith(b"\r\n"):
        return "\r\n"
    if following[:1] in (b"\r", b"\n"):
        return following[:1].decode("ascii")
    first = _LINE_BREAK.search(source.data)
    return first.group().decode("ascii") if first else "\n"


def _leading_whitespace(source: SourceText, row: int) -> str:
    line = source.line_text(row)
    return line[: len(line) - len(line.lstrip(" \t"))]


def _start_row(source: SourceText, node: Node) -> int:
    """Rows from our line table, not tree-sitter's points, which know only `\\n` as a line break."""
    return source.point_at_byte(node.start_byte)[0]


def _end_row(source: SourceText, node: Node) -> int:
    return source.point_at_byte(node.end_byte)[0]


def _starts_its_line(source: SourceText, node: Node) -> bool:
    row, column = source.point_at_byte(node.start_byte)
    return not source.line_bytes(row)[:column].strip()


# --- QE201 broad-except-swallowed -----------------------------------------------------------------

_BROAD_EXCEPTIONS = frozenset({"Exception", "BaseException", "builtins.Exception", "builtins.BaseException"})
_LITERAL_EXPRESSIONS = frozenset(
    {"ellipsis", "string", "concatenated_string", "integer", "float", "true", "false", "none"}
)


def _caught_types(clause: Node) -> list[Node] | None:
    """The exception type expressions of an except clause; None for a bare `except:`."""
    value = clause.child_by_field_name("value")
    if value is None:
        return None
    if value.type == "as_pattern" and value.named_children:
        value = value.named_children[0]
    while value.type == "parenthesized_expression" and value.named_child_count == 1:
        value = value.named_children[0]
    if value.type in ("tuple", "expression_list"):
        return [child for child in value.named_children if child.type != "comment"]
    return [value]


def _is_broad(type_expression: Node) -> bool:
    while type_expression.type == "parenthesized_expression" and type_expression.named_child_count == 1:
        type_expression = type_expression.named_children[0]
    return "".join(node_text(type_expression).split()) in _BROAD_EXCEPTIONS


def _is_silent_statement(statement: Node) -> bool:
    kind = statement.type
    if kind in ("pass_statement", "continue_statement"):
        return True
    if kind == "return_statement":
        values = _statements(statement)
        return not values or (len(values) == 1 and values[0].type == "none")
    if kind == "expression_statement" and statement.named_child_count == 1:
        expression = statement.named_children[0]
        if expression.type not in _LITERAL_EXPRESSIONS:
            return False
        # An f-string evaluates its fields (it could even use the caught exception).
        return not any(child.type == "interpolation" for child in walk(expression))
    return False


def _is_constant_fallback(statement: Node) -> bool:
    """`return 0` or `value = None`: a default in place of the error, as silent as `pass`."""
    if statement.type == "return_statement":
        values = _statements(statement)
        return len(values) == 1 and values[0].type in _LITERAL_EXPRESSIONS
    if statement.type == "expression_statement" and statement.named_child_count == 1:
        assignment = statement.named_children[0]
        right = assignment.child_by_field_name("right")
        return (
            assignment.type == "assignment"
            and right is not None
            and right.type in (_LITERAL_EXPRESSIONS | {"list", "dictionary", "tuple"})
            and right.named_child_count == 0
        )
    return False


def _handler_swallows(clause: Node, bare: bool) -> bool:
    """Only silent statements; for a bare `except:` a constant fallback is silent too, since it also
    turns KeyboardInterrupt and SystemExit into a default value."""
    body = _first_child_of_type(clause, "block")
    if body is None:
        return False
    statements = _statements(body)
    return bool(statements) and all(_is_silent_statement(s) or (bare and _is_constant_fallback(s)) for s in statements)


_SWALLOWER_NAME = re.compile(r"(?:^|_)(?:swallow|ignor|silent|quiet|suppress|best_?effort)|^_*try_", re.IGNORECASE)
_SWALLOWER_DOC = re.compile(
    r"\b(?:errors?|exceptions?|failures?)\b[^.]{0,60}?\b(?:ignored|swallowed|suppressed|silenced)\b"
    r"|\b(?:ignor(?:e|es|ing)|swallow(?:s|ing)?|suppress(?:es|ing)?|silenc(?:e|es|ing))\b[^.]{0,30}?"
    r"\b(?:errors?|exceptions?|failures?)\b|\bbest[- ]effort\b|\bfails? silently\b|\bnever raises?\b"
    r"|\b(?:does|do|will|must|should) not raise\b|\b(?:doesn't|won't|don't) raise\b",
    re.IGNORECASE,
)


def _catches_its_own_raise(clause: Node) -> bool:
    """`try: raise Exception("dummy") except Exception: pass` sets up `sys.exc_info()` on purpose."""
    try_node = clause.parent
    body = try_node.child_by_field_name("body") if try_node is not None else None
    statements = _statements(body) if body is not None else []
    return bool(statements) and all(s.type == "raise_statement" and s.named_children for s in statements)


def _in_documented_swallower(clause: Node) -> bool:
    """The enclosing function says it swallows errors (its name or docstring), or is `__del__`, which
    must not raise: the catch-all is the documented contract, not an accident."""
    function = clause.parent
    while function is not None and function.type not in ("function_definition", "class_definition", "module"):
        function = function.parent
    if function is None or function.type != "function_definition":
        return False
    name = node_text(function.child_by_field_name("name"))
    if name == "__del__" or _SWALLOWER_NAME.search(name):
        return True
    body = function.child_by_field_name("body")
    first = _statements(body)[0] if body is not None and _statements(body) else None
    if first is None or first.type != "expression_statement" or first.named_child_count != 1:
        return False
    docstring = first.named_children[0]
    return docstring.type in ("string", "concatenated_string") and bool(_SWALLOWER_DOC.search(node_text(docstring)))


class BroadExceptSwallowed(Rule):
    info = RuleInfo(
        id="QE201",
        name="broad-except-swallowed",
        default_severity=Severity.WARNING,
        languages=_PYTHON,
        summary="A catch-all `except` whose handler does nothing hides every error, bugs included.",
        rationale=(
            "`except:`, `except Exception:` or `except BaseException:` with a body of only `pass`, "
            "`...`, `continue`, `return` or a bare literal turns every failure (typos, wrong types, "
            "a bare `except:` even catches KeyboardInterrupt and SystemExit) into silent wrong "
            "behaviour. Catch the specific exceptions you expect, or log with `logger.exception(...)` "
            "and re-raise. Unlike ruff's E722/S110/S112/BLE001, this reports only handlers that "
            "really swallow, in every form listed above, including tuples such as "
            "`except (ValueError, Exception):`, and a bare `except:` whose body only returns or "
            "assigns a constant. A line the team already silenced for ruff or pylint "
            "(`# noqa: BLE001`, `S110`, `S112`, `E722`, bare `# noqa`, `# pylint: disable=broad-except`) "
            "is not reported again, nor a handler in a function whose name or docstring says it "
            "swallows or ignores errors, nor one in `__del__`, nor one around a `try` that only "
            "raises an exception of its own making. There is no quick fix: every repair "
            "changes behaviour, and narrowing `except:` to `except Exception:` would still swallow."
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        if not _is_python(ctx):
            return
        for node in ctx.nodes_of_type("except_clause"):
            caught = _caught_types(node)
            if node.has_error or not _handler_swallows(node, bare=caught is None):
                continue
            if _in_documented_swallower(node) or _catches_its_own_raise(node):
                continue
            colon = _first_child_of_type(node, ":")
            head_end = colon.end_byte if colon is not None else node.start_byte + len("except")
            head = ctx.document.source.span_of_bytes(node.start_byte, head_end)
            if caught is None:
                yield ctx.report(
                    self.info,
                    head,
                    "Bare `except:` swallows every error, even KeyboardInterrupt and SystemExit: "
                    "catch the exceptions you expect, or log and re-raise",
                    evidence=1.0,
                )
            elif any(_is_broad(t) for t in caught):
                head_text = _snippet(
                    ctx.document.source.data[node.start_byte : head_end].decode("utf-8", errors="replace")
                )
                yield ctx.report(
                    self.info,
                    head,
                    f"`{head_text}` swallows every error silently: catch the exceptions you expect, "
                    "or log them (logger.exception) and re-raise",
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


__all__ = ["RULES", "TooComplex", "cyclomatic_complexity"]

RULES: list[type[Rule]] = [
    BroadExceptSwallowed,
    MutableDefaultArgument,
    TooComplex,
    UnreachableCode,
    TodoComment,
]
