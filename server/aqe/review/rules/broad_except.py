"""QE201 broad-except-swallowed: a catch-all handler that does nothing.

Split from `python_code` to keep modules small; `python_code.RULES` still lists it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tree_sitter import Node

from aqe.findings import Finding, Severity
from aqe.review.rules.base import Rule, RuleContext, RuleInfo, node_text, walk
from aqe.review.rules.python_code_shapes import (
    _PYTHON,
    _first_child_of_type,
    _is_python,
    _snippet,
    _statements,
)

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
