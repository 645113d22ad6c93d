"""QE203 too-complex: cyclomatic complexity, counted the way ruff's C901 and mccabe count it.

The default count is McCabe's, so the numbers agree with the tools people know: if/elif, loops,
except clauses, a `try`'s else, match cases (less a final catch-all) and nested functions (which
also get their own count). Boolean operators, conditional expressions and comprehensions add
nothing. The wider count radon uses (those count too, nested functions do not) stays available as
the `complexityCounting = "extended"` setting.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tree_sitter import Node

from aqe.findings import Finding, Severity
from aqe.parsing.languages import Language
from aqe.review.rules.base import ComplexityCounting, Rule, RuleContext, RuleInfo, RuleOptions, node_text, walk

_PYTHON = frozenset({Language.PYTHON})


_ONE_DECISION = frozenset(
    {
        "if_statement",
        "elif_clause",
        "for_statement",
        "while_statement",
        "except_clause",
        "conditional_expression",
        "boolean_operator",
        "for_in_clause",
    }
)
_COMPREHENSIONS = frozenset(
    {"list_comprehension", "set_comprehension", "dictionary_comprehension", "generator_expression"}
)


def _is_catch_all_case(case: Node) -> bool:
    """`case _:` or `case name:` without a guard is the match's `else`, not a decision."""
    if case.child_by_field_name("guard") is not None:
        return False
    patterns = [child for child in case.named_children if child.type == "case_pattern"]
    if len(patterns) != 1:
        return False
    pattern = patterns[0]
    if pattern.named_child_count == 0:
        return node_text(pattern) == "_"
    only = pattern.named_children[0]
    return pattern.named_child_count == 1 and only.type == "dotted_name" and only.named_child_count == 1


def _decisions(node: Node) -> int:
    kind = node.type
    if kind in _ONE_DECISION:
        return 1
    if kind == "if_clause":
        parent = node.parent
        return 1 if parent is not None and parent.type in _COMPREHENSIONS else 0
    if kind == "case_clause":
        return 0 if _is_catch_all_case(node) else 1
    return 0


def _function_complexities(nodes: Iterable[Node]) -> list[tuple[Node, int]]:
    """Extended complexity of every function among `nodes` (a subtree in document order) in one pass: each
    node counts for the innermost function that contains it, so a nested function's decisions
    never add to its parent."""
    results: list[tuple[Node, int]] = []
    open_functions: list[tuple[int, int]] = []  # (end byte, index in results)
    for node in nodes:
        while open_functions and node.start_byte >= open_functions[-1][0]:
            open_functions.pop()
        if node.type == "function_definition":
            open_functions.append((node.end_byte, len(results)))
            results.append((node, 1))
        elif open_functions:
            decisions = _decisions(node)
            if decisions:
                index = open_functions[-1][1]
                function, count = results[index]
                results[index] = (function, count + decisions)
    return results


def _is_last_case(case: Node) -> bool:
    sibling = case.next_named_sibling
    while sibling is not None and sibling.type == "comment":
        sibling = sibling.next_named_sibling
    return sibling is None


def _mccabe_decisions(node: Node) -> int:
    kind = node.type
    if kind in ("if_statement", "elif_clause", "for_statement", "while_statement", "except_clause"):
        return 1
    if kind in ("except_group_clause", "function_definition"):
        return 1
    if kind == "else_clause":
        parent = node.parent
        return 1 if parent is not None and parent.type == "try_statement" else 0
    if kind == "case_clause":
        return 0 if _is_last_case(node) and _is_catch_all_case(node) else 1
    return 0


def _mccabe(function: Node) -> int:
    """ruff's `get_complexity_number`: 1 + decisions, a nested function adding 1 + its own."""
    return 1 + sum(_mccabe_decisions(node) for node in walk(function) if node.id != function.id)


def _mccabe_complexities(nodes: Iterable[Node]) -> list[tuple[Node, int]]:
    return [(node, _mccabe(node)) for node in nodes if node.type == "function_definition"]


def cyclomatic_complexity(function_node: Node, counting: ComplexityCounting = ComplexityCounting.MCCABE) -> int:
    """The complexity of one function; `counting` chooses McCabe's (ruff C901) or the extended count."""
    if function_node.type == "decorated_definition":
        definition = function_node.child_by_field_name("definition")
        function_node = definition if definition is not None else function_node
    if function_node.type != "function_definition":
        raise ValueError(f"expected a function_definition node, got {function_node.type!r}")
    if counting is ComplexityCounting.MCCABE:
        return _mccabe(function_node)
    return _function_complexities(walk(function_node))[0][1]


AGREED_MARGIN = 5
"""How far above the threshold a count must be before the labelled corpus agrees it is too complex.

At the default threshold of 10 (ruff's C901 default) every finding at McCabe 15 or more in project
code was labelled TRUE, while 36 of the 43 DEBATABLE labels sit at 11-14: whether those are too
complex is a preference about the threshold, not about the code. One log-odds step per point from
here puts that band under `LOW_CONFIDENCE`, so it is shown as a hint (the editor still lists it, and
choosing the rule's severity in the settings shows it as chosen). It applies at the default threshold
only: a team that chose its own `maxComplexity` has settled that preference, and sees every count above it."""


_DEFAULT_THRESHOLD = RuleOptions().max_complexity


class TooComplex(Rule):
    info = RuleInfo(
        id="QE203",
        name="too-complex",
        default_severity=Severity.WARNING,
        languages=_PYTHON,
        summary="A function has more independent paths than the complexity threshold allows.",
        rationale=(
            "Cyclomatic complexity counts the decisions in a function (if/elif, loops, except "
            "clauses, a try's else, match cases, nested functions). Each one is a path a test has "
            "to cover, and functions above the threshold (`maxComplexity`, default 10) are where "
            "defects and untested branches gather. Split the function, or replace branching with "
            "data (a dict lookup) or early returns. The count is mccabe's, as ruff's C901 (off by "
            "default in ruff) and flake8 report it, so the numbers agree; the setting "
            '`complexityCounting = "extended"` also counts boolean operators, conditional '
            "expressions and comprehension clauses, as radon does. Counts less than 5 above the "
            "threshold (11-14 at the default) are a matter of taste on real projects and are shown "
            "as hints unless the rule's severity is set."
        ),
    )

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        if ctx.document.language is not Language.PYTHON:
            return
        threshold = ctx.options.max_complexity
        margin = AGREED_MARGIN if threshold == _DEFAULT_THRESHOLD else 0
        if ctx.options.complexity_counting is ComplexityCounting.MCCABE:
            complexities = _mccabe_complexities(ctx.nodes_of_type("function_definition"))
        else:
            complexities = _function_complexities(ctx.nodes)
        for function, complexity in complexities:
            if complexity <= threshold:
                continue
            name_node = function.child_by_field_name("name")
            yield ctx.report(
                self.info,
                name_node if name_node is not None else function,
                f"`{node_text(name_node)}` has a cyclomatic complexity of {complexity} "
                f"(threshold {threshold}): split it or simplify its branching",
                evidence=max(-3.0, min(2.0, float(complexity - threshold - margin))),
            )
