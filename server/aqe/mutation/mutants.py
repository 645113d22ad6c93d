"""The mutants of ONE function, made by mutmut's own operators.

mutmut 3 is driven as a library: its `create_mutations` parses the module with libcst and applies
`mutmut.mutation.mutators.mutation_operators` (numbers +1, strings "XX", `<`/`<=`, `==`/`!=`, `+`/`-`,
`and`/`or`, `is`/`is not`, `in`/`not in`, True/False, `a = x` -> `a = None`, call arguments to None or
dropped, `lower`/`upper`, `not x` -> `x`, `break`/`return`, match cases dropped), honouring its skip
rules (`# pragma: no mutate`, type annotations, decorated functions). Restricting it to the function's
lines makes one function cost one libcst parse of its file (tens of milliseconds). What mutmut does
not offer as a library is running mutants one function at a time (it rewrites every file into
trampolines under a `mutants/` folder and drives its own runner); `aqe.mutation.run` does that part.
cosmic-ray was not used: it needs a session database and starts a process per mutant.
"""

from __future__ import annotations

import hashlib
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # libcst loads in ~0.2 s: only when mutants are asked for
    import libcst as cst

_MAX_SHOWN = 40


class MutationError(Exception):
    """The module cannot be parsed, or the function is not in it."""


@dataclass(frozen=True)
class Mutant:
    id: str
    """Stable while the function's text and the mutation stay the same: `<function>:<hash>`."""
    line: int
    """1-based line of the mutated code in the file."""
    column: int
    """0-based column of the mutated code on `line`."""
    end_line: int
    end_column: int
    original: str
    replacement: str
    function_source: str
    """The whole mutated function, dedented: what replaces the function while its tests run."""

    @property
    def description(self) -> str:
        return f"`{_short(self.original)}` to `{_short(self.replacement)}`"


@dataclass(frozen=True)
class FunctionMutants:
    qualified_name: str
    start_line: int
    end_line: int
    mutants: tuple[Mutant, ...]


def function_mutants(path: str, text: str, qualified_name: str) -> FunctionMutants:
    """Every mutant mutmut makes of `qualified_name` (`func` or `Class.method`) in `text`."""
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider
    from mutmut.mutation.file_mutation import MutationVisitor, deep_replace
    from mutmut.mutation.mutators import mutation_operators
    from mutmut.mutation.pragma_handling import IgnoredCode, PragmaVisitor

    try:
        wrapper = MetadataWrapper(cst.parse_module(text))
    except cst.ParserSyntaxError as error:
        raise MutationError(f"{path} cannot be parsed: {error}") from error
    module = wrapper.module
    own = _find_definition(module, qualified_name)
    if own is None:
        raise MutationError(f"no function `{qualified_name}` in {path}")
    positions = wrapper.resolve(PositionProvider)
    span = positions[own]
    # mutmut's own visitor, pragmas and skip rules, on the body's lines only. (Its
    # `create_mutations` would also read a mutmut configuration from the working directory.)
    pragmas = PragmaVisitor(path)
    wrapper.visit(pragmas)
    ignored = IgnoredCode(pragmas.no_mutate_lines, pragmas.ignore_node_lines, set())
    body_lines = set(range(positions[own.body].start.line, span.end.line + 1))
    visitor = MutationVisitor(mutation_operators, ignored, body_lines)
    wrapper.visit(visitor)
    inside = _descendants(own)
    found: list[Mutant] = []
    seen: set[str] = set()
    for mutation in visitor.mutations:
        node = mutation.original_node
        if id(node) not in inside or node not in positions:
            continue
        where = positions[node]
        original = module.code_for_node(node)
        replacement = module.code_for_node(mutation.mutated_node)
        if original == replacement:
            continue
        changed = deep_replace(own, node, mutation.mutated_node).with_changes(leading_lines=())
        source = textwrap.dedent(module.code_for_node(changed).strip("\n")) + "\n"
        digest = hashlib.sha256(f"{where.start.line}:{where.start.column}:{source}".encode()).hexdigest()[:10]
        mutant_id = f"{qualified_name}:{digest}"
        if mutant_id in seen:
            continue
        seen.add(mutant_id)
        before, after, offset = _narrow(original, replacement)
        skipped = original[:offset]
        line = where.start.line + skipped.count("\n")
        column = where.start.column + offset if "\n" not in skipped else offset - skipped.rindex("\n") - 1
        found.append(Mutant(mutant_id, line, column, where.end.line, where.end.column, before, after, source))
    found.sort(key=lambda mutant: (mutant.line, mutant.column, mutant.id))
    return FunctionMutants(qualified_name, span.start.line, span.end.line, tuple(found))


def _find_definition(module: cst.Module, qualified_name: str) -> cst.FunctionDef | None:
    import libcst as cst

    body: object = module.body
    parts = qualified_name.split(".")
    node: cst.CSTNode | None = None
    for depth, part in enumerate(parts):
        node = None
        last = depth == len(parts) - 1
        kind = cst.FunctionDef if last else cst.ClassDef
        for statement in body:  # type: ignore[attr-defined]
            if isinstance(statement, kind) and statement.name.value == part:
                node = statement
        if node is None:
            return None
        inner = getattr(node, "body", None)
        body = getattr(inner, "body", ())
    return node if isinstance(node, cst.FunctionDef) else None


def _descendants(root: cst.CSTNode) -> set[int]:
    """Ids of every node under `root` (libcst nodes compare by value, so identity it is)."""
    found: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        found.add(id(node))
        stack.extend(node.children)
    return found


def _narrow(original: str, replacement: str) -> tuple[str, str, int]:
    """`a < b` / `a <= b` -> `<` / `<=`: drop the text both share at their ends (on word edges);
    with where the kept part starts in `original`."""
    start = 0
    while start < min(len(original), len(replacement)) and original[start] == replacement[start]:
        start += 1
    end = 0
    while (
        end < min(len(original), len(replacement)) - start
        and original[len(original) - 1 - end] == replacement[len(replacement) - 1 - end]
    ):
        end += 1
    while start > 0 and (original[start - 1].isalnum() or original[start - 1] in "_<>=!"):
        start -= 1
    while end > 0 and (original[len(original) - end].isalnum() or original[len(original) - end] in "_<>=!"):
        end -= 1
    kept = original[start : len(original) - end]
    before, after = kept.strip(), replacement[start : len(replacement) - end].strip()
    if not before or not after:
        return original.strip(), replacement.strip(), len(original) - len(original.lstrip())
    return before, after, start + len(kept) - len(kept.lstrip())


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_SHOWN else flat[: _MAX_SHOWN - 1] + "…"
