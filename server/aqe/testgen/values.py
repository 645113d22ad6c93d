"""Candidate inputs without a model: from type hints, defaults, the literals the function compares
against, the project's own classes (built from their dataclass fields or `__init__`), fixtures the
team already has, and names. Each value is Python source plus the imports it needs.

The point is not clever inputs but cheap, varied ones: they are run, and only those that reach new
lines or branches of the function are kept (see aqe.testgen.probe).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language
from aqe.testgen.target import ClassShape, Parameter, TestTarget, class_shape, module_names

MAX_CALLS = 48
_MAX_DEPTH = 2
_PER_TYPE = 6
_PER_PARAMETER = 24  # mined strings: separators, pattern matches, table keys


@dataclass(frozen=True)
class Value:
    source: str
    label: str
    """A few words for a test name: `zero`, `negative`, `empty`, `gold`."""
    imports: frozenset[str] = frozenset()
    fixtures: frozenset[str] = frozenset()
    """Fixtures the expression uses (the test must request them)."""


@dataclass(frozen=True)
class Call:
    """One way to call the target: an expression per parameter, and which parameter differs from the
    base call (for naming the test)."""

    arguments: tuple[tuple[Parameter, Value], ...]
    receiver: Value | None = None
    varied: str | None = None

    @property
    def imports(self) -> frozenset[str]:
        parts = [value.imports for _, value in self.arguments]
        if self.receiver is not None:
            parts.append(self.receiver.imports)
        return frozenset().union(*parts)

    @property
    def fixtures(self) -> frozenset[str]:
        parts = [value.fixtures for _, value in self.arguments]
        if self.receiver is not None:
            parts.append(self.receiver.fixtures)
        return frozenset().union(*parts)

    def expression(self, target: TestTarget) -> str:
        rendered: list[str] = []
        for parameter, value in self.arguments:
            if parameter.kind == "keyword":
                rendered.append(f"{parameter.name}={value.source}")
            elif parameter.kind == "var_positional":
                rendered.append(f"*{value.source}")
            elif parameter.kind == "var_keyword":
                rendered.append(f"**{value.source}")
            else:
                rendered.append(value.source)
        callee = target.call_prefix
        if target.binding == "method" and self.receiver is not None:
            callee = f"{self.receiver.source}.{target.name}"
        return f"{callee}({', '.join(rendered)})"

    def name_suffix(self) -> str:
        for parameter, value in self.arguments:
            if parameter.name == self.varied:
                return _identifier(f"with_{value.label}_{parameter.name}" if value.label else f"with_{parameter.name}")
        if self.receiver is not None and self.varied == "self":
            return _identifier(f"with_{self.receiver.label}")
        return ""


ClassResolver = Callable[[str, TestTarget], ClassShape | None]


@dataclass
class ValueContext:
    target: TestTarget
    resolve_class: ClassResolver
    fixtures: dict[str, str] = field(default_factory=dict)
    """Fixture return annotation -> fixture name (only unambiguous ones)."""
    module_calls: dict[str, list[str]] = field(default_factory=dict)
    """`date(...)`, `Decimal(...)`... calls written anywhere in the module, by callee."""


def candidate_calls(context: ValueContext, limit: int = MAX_CALLS) -> list[Call]:
    """A base call (first candidate for every parameter), then each parameter varied on its own."""
    target = context.target
    pools = [(parameter, values_for(parameter, context, depth=0)) for parameter in target.parameters]
    pools = [(parameter, pool) for parameter, pool in pools if pool]
    receivers: list[Value] = []
    if target.binding == "method":
        if target.owner is None:
            return []
        receivers = construct(target.owner, context, depth=0)
        if not receivers:
            return []
    required = [p for p in target.parameters if p.kind in ("positional", "keyword") and p.default is None]
    if any(parameter not in dict(pools) for parameter in required):
        return []  # a required parameter we cannot build: no model-free calls
    base = tuple((parameter, pool[0]) for parameter, pool in pools if parameter in required)
    receiver = receivers[0] if receivers else None
    variations: list[list[Call]] = []
    for parameter, pool in pools:
        varied: list[Call] = []
        for value in pool[1:] if parameter in required else pool:
            arguments = list(base)
            if parameter in required:
                arguments[[p for p, _ in base].index(parameter)] = (parameter, value)
            else:
                arguments.append((parameter, value))
            varied.append(Call(tuple(arguments), receiver, parameter.name))
        variations.append(varied)
    variations.append([Call(base, other, "self") for other in receivers[1:]])
    # Round-robin over the parameters, so a long pool for one cannot crowd out the others.
    calls = [Call(base, receiver)]
    calls += [call for group in itertools.zip_longest(*variations) for call in group if call is not None]
    unique = list({call.expression(target): call for call in calls}.values())
    return unique[:limit]


def values_for(parameter: Parameter, context: ValueContext, depth: int) -> list[Value]:
    if parameter.kind == "var_positional":
        return [Value("()", "")]
    if parameter.kind == "var_keyword":
        return [Value("{}", "")]
    values: list[Value] = []
    annotation = parameter.annotation
    if annotation is not None and annotation in context.fixtures and depth == 0:
        # The team's fixture first (it is what their tests use), then instances that vary it.
        name = context.fixtures[annotation]
        values.append(Value(name, "", fixtures=frozenset({name})))
        shape = context.resolve_class(annotation, context.target)
        if shape is not None:
            values += construct(shape, context, depth + 1)[1:]
        return _unique(values)[: _PER_TYPE + 2]
    if annotation is not None:
        values += values_for_annotation(annotation, context, depth, parameter.name)
    elif parameter.default is not None:
        values += values_for_annotation(_type_of_literal(parameter.default), context, depth, parameter.name)
    else:
        values += values_for_annotation(_type_from_name(parameter.name), context, depth, parameter.name)
    if parameter.default is not None and parameter.default != "...":
        values = [v for v in values if v.source != parameter.default]
    return _unique(values)[:_PER_PARAMETER]


def values_for_annotation(annotation: str, context: ValueContext, depth: int, name: str = "") -> list[Value]:
    text = annotation.strip().strip("'\"")
    options = _split_union(text)
    if len(options) > 1:
        pools = [values_for_annotation(option, context, depth, name) for option in options]
        return _unique([v for v in itertools.chain.from_iterable(itertools.zip_longest(*pools)) if v is not None])
    head, args = _generic(text)
    simple = head.rsplit(".", 1)[-1]
    target = context.target
    alias = target.type_aliases.get(simple)
    if alias is not None and alias != text and depth <= _MAX_DEPTH:
        return values_for_annotation(alias, context, depth + 1, name)
    if simple in ("None", "NoneType"):
        return [Value("None", "no")]
    if simple == "Optional" and args:
        return [Value("None", "no"), *values_for_annotation(args[0], context, depth, name)]
    if simple == "Union" and args:
        return values_for_annotation(" | ".join(args), context, depth, name)
    if simple == "Literal" and args:
        return [Value(arg, _label(arg)) for arg in args]
    if simple == "int":
        return _numbers(target, integer=True)
    if simple == "float":
        return _numbers(target, integer=False)
    if simple == "bool":
        return [Value("True", "true"), Value("False", "false")]
    if simple == "str":
        return _strings(target)
    if simple == "bytes":
        return [Value('b"abc"', "bytes"), Value('b""', "empty")]
    if simple == "Decimal":
        imports = frozenset({"from decimal import Decimal"})
        found = [Value(call, _label(call), imports) for call in context.module_calls.get("Decimal", [])]
        numbers = [v.source for v in _numbers(target, integer=False)]
        return _unique([*found, *(Value(f'Decimal("{n}")', _label(n), imports) for n in numbers)])[:_PER_TYPE]
    if simple in ("date", "datetime"):
        imports = frozenset({f"from datetime import {simple}"})
        found = [Value(call, "", imports) for call in context.module_calls.get(simple, [])]
        defaults = ["date(2024, 3, 12)", "date(2024, 2, 29)", "date(2024, 12, 31)"]
        if simple == "datetime":
            defaults = ["datetime(2024, 3, 12, 9, 30)", "datetime(2024, 12, 31, 23, 59)"]
        return _unique(
            [*(Value(d, "", imports) for d in defaults[:1]), *found, *(Value(d, "", imports) for d in defaults[1:])]
        )
    if simple == "timedelta":
        imports = frozenset({"from datetime import timedelta"})
        return [Value("timedelta(minutes=5)", "", imports), Value("timedelta(0)", "zero", imports)]
    if simple in ("Path", "PurePath", "PosixPath"):
        return [Value('Path("data.txt")', "", frozenset({"from pathlib import Path"}))]
    if simple in ("list", "List", "Sequence", "Iterable", "Collection", "MutableSequence", "set", "Set", "frozenset",
                  "FrozenSet", "tuple", "Tuple"):  # fmt: skip
        return _collections(simple, args, context, depth, name)
    if simple in ("dict", "Dict", "Mapping", "MutableMapping"):
        key = values_for_annotation(args[0], context, depth + 1) if args else _strings(target)
        value = values_for_annotation(args[1], context, depth + 1) if len(args) > 1 else _numbers(target, True)
        if not key or not value:
            return [Value("{}", "empty")]
        return [Value(f"{{{key[0].source}: {value[0].source}}}", "", key[0].imports | value[0].imports,
                      key[0].fixtures | value[0].fixtures), Value("{}", "empty")]  # fmt: skip
    if simple in ("Callable",):
        return [Value("lambda *args, **kwargs: None", "")]
    if simple in ("Any", "object", ""):
        return _unique([*_numbers(target, True)[:6], *_strings(target)[:3], Value("None", "no")])
    if depth >= _MAX_DEPTH:
        return []
    shape = context.resolve_class(simple, target)
    if shape is None:
        return []
    return construct(shape, context, depth + 1)


def construct(shape: ClassShape, context: ValueContext, depth: int) -> list[Value]:
    """Instances of a project class: one with the first value of every required field, then each
    field varied on its own (so `loyalty_tier="gold"` gets its own instance)."""
    imports = frozenset({f"from {shape.module} import {shape.name}"}) if shape.module else frozenset()
    if shape.enum_members:
        return [Value(f"{shape.name}.{member}", member.lower(), imports) for member in shape.enum_members]
    if depth > _MAX_DEPTH:
        return []
    pools: list[tuple[Parameter, list[Value]]] = []
    for parameter in shape.parameters:
        if parameter.kind in ("var_positional", "var_keyword"):
            continue
        pool = values_for(
            Parameter(parameter.name, parameter.annotation, parameter.default, parameter.kind), context, depth
        )
        pool = [value for value in pool if not value.fixtures]
        if not pool and parameter.default is None:
            return []
        pools.append((parameter, pool))
    required = [(p, pool) for p, pool in pools if p.default is None]
    base = [(p, pool[0]) for p, pool in required]

    def render(arguments: Sequence[tuple[Parameter, Value]]) -> Value:
        parts = [value.source if p.kind == "positional" and p.default is None else f"{p.name}={value.source}"
                 for p, value in arguments]  # fmt: skip
        merged = imports.union(*(value.imports for _, value in arguments)) if arguments else imports
        return Value(f"{shape.name}({', '.join(parts)})", "", merged)

    instances = [render(base)]
    read = context.target.attributes_read
    for parameter, pool in pools:
        if depth > 1 or parameter.name not in read:
            continue  # only the fields the function looks at are worth an instance each
        for value in pool[1:] if parameter.default is None else pool:
            arguments = (
                [(p, value if p is parameter else v) for p, v in base]
                if parameter.default is None
                else [*base, (parameter, value)]
            )
            instance = render(arguments)
            label = f"{value.label}_{parameter.name}" if value.label else parameter.name
            instances.append(Value(instance.source, label, instance.imports))
    return _unique(instances)[: _PER_TYPE * 2]


def _collections(simple: str, args: list[str], context: ValueContext, depth: int, name: str) -> list[Value]:
    inner_annotation = args[0] if args and args[0] != "..." else "int"
    inner = values_for_annotation(inner_annotation, context, depth + 1) if depth < _MAX_DEPTH else []
    if simple in ("tuple", "Tuple") and len(args) > 1 and args[1] != "...":
        parts = [values_for_annotation(arg, context, depth + 1) for arg in args]
        if all(parts):
            merged = frozenset().union(*(p[0].imports for p in parts))
            return [Value(f"({', '.join(p[0].source for p in parts)},)", "", merged)]
        return []
    open_, close = _BRACKETS.get(simple, ("[", "]"))
    empty = _EMPTY.get(simple, "[]")
    values = [Value(empty, "empty")]
    if inner:
        values.append(Value(f"{open_}{inner[0].source}{close}", "one", inner[0].imports))
        if len(inner) > 1:
            body = ", ".join(v.source for v in inner[:3])
            merged = frozenset().union(*(v.imports for v in inner[:3]))
            values.append(Value(f"{open_}{body}{close}".replace(",)", ")") if open_ == "(" else f"{open_}{body}{close}",
                                "several", merged))  # fmt: skip
    return values


_BRACKETS = {
    "set": ("{", "}"), "Set": ("{", "}"), "frozenset": ("frozenset({", "})"), "FrozenSet": ("frozenset({", "})"),
    "tuple": ("(", ",)"), "Tuple": ("(", ",)"),
}  # fmt: skip
_EMPTY = {
    "set": "set()",
    "Set": "set()",
    "frozenset": "frozenset()",
    "FrozenSet": "frozenset()",
    "tuple": "()",
    "Tuple": "()",
}


def _numbers(target: TestTarget, integer: bool) -> list[Value]:
    """1 first (a plain, valid-looking value), then the literals the code compares with, then their
    neighbours (`x >= 10` needs 9 and 10), then zero and a negative."""
    literals: list[int | float] = []
    for literal in target.number_literals:
        try:
            literals.append(int(literal, 0) if integer else float(literal))
        except ValueError:
            try:
                literals.append(float(literal) if not integer else int(float(literal)))
            except ValueError:
                continue
    exact = [str(n) if integer else repr(float(n)) for n in literals]
    around = [str(n + step) if integer else repr(float(n) + step / 2) for n in literals for step in (-1, 1)]
    base = ["0", "-1", "7"] if integer else ["0.0", "1.5", "-2.5"]
    ordered = ["1" if integer else "1.0", *exact, *around, *base]
    return _unique([Value(text, _label(text)) for text in ordered])[: _PER_TYPE + 10]


def _strings(target: TestTarget) -> list[Value]:
    literals = [Value(text, _label(text)) for text in target.string_literals if len(text) < 80]
    return _unique([Value('"abc"', ""), Value('""', "empty"), *literals])[:_PER_PARAMETER]


def _unique(values: Iterable[Value]) -> list[Value]:
    seen: dict[str, Value] = {}
    for value in values:
        seen.setdefault(value.source, value)
    return list(seen.values())


def _split_union(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        if char == "|" and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return [p for p in parts if p]


def _generic(text: str) -> tuple[str, list[str]]:
    if "[" not in text or not text.endswith("]"):
        return text, []
    head, _, rest = text.partition("[")
    inner = rest[:-1]
    args, depth, current = [], 0, ""
    for char in inner:
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        if char == "," and depth == 0:
            args.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        args.append(current.strip())
    return head.strip(), args


def _type_of_literal(default: str) -> str:
    if default in ("True", "False"):
        return "bool"
    if re.fullmatch(r"-?\d+", default):
        return "int"
    if re.fullmatch(r"-?\d*\.\d+(e-?\d+)?", default):
        return "float"
    if default[:1] in "\"'" or default[:2] in ('f"', "f'"):
        return "str"
    if default.startswith("["):
        return "list"
    if default.startswith("{"):
        return "dict"
    return "Any"


_INT_NAMES = re.compile(
    r"(count|number|num|size|index|idx|quantity|qty|total|limit|amount|cents|n|i|k|depth|level|age|year)s?$"
)
_STR_NAMES = re.compile(r"(name|text|key|sku|code|path|message|msg|label|title|word|prefix|suffix|id|url|email|s)$")
_FLOAT_NAMES = re.compile(r"(price|cost|rate|ratio|percent|percentage|fraction|weight|score|factor|amount)s?$")


def _type_from_name(name: str) -> str:
    """A guess for unannotated parameters, from how people name them."""
    lowered = name.lower()
    if _FLOAT_NAMES.search(lowered):
        return "float"
    if _INT_NAMES.search(lowered):
        return "int"
    if _STR_NAMES.search(lowered):
        return "str"
    if lowered.startswith(("is_", "has_", "allow", "enable")):
        return "bool"
    if lowered.endswith(("s", "_list", "items")):
        return "list"
    return "Any"


def _label(source: str) -> str:
    text = source.strip().strip("'\"")
    if text in ("0", "0.0", '""', ""):
        return "zero" if source.strip() in ("0", "0.0") else "empty"
    if text.startswith("-"):
        return "negative"
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_ ]{0,20}", text):
        return text.lower().replace(" ", "_")
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return text.replace(".", "_")
    return ""


def _identifier(text: str) -> str:
    cleaned = re.sub(r"[^0-9a-zA-Z_]+", "_", text).strip("_").lower()
    return re.sub(r"_+", "_", cleaned)[:60]


# --- building the context --------------------------------------------------------------------------


def value_context(
    root: Path, target: TestTarget, module_text: str, fixtures: Sequence[tuple[str, str | None]]
) -> ValueContext:
    by_annotation: dict[str, list[str]] = {}
    for name, annotation in fixtures:
        if annotation:
            by_annotation.setdefault(annotation, []).append(name)
    unambiguous = {annotation: names[0] for annotation, names in by_annotation.items() if len(set(names)) == 1}
    calls: dict[str, list[str]] = {}
    for callee in ("date", "datetime", "Decimal"):
        literal = r"""\s*(?:-?[\d.]+|"[^"\n]*"|'[^'\n]*')\s*"""
        found = re.findall(rf"\b{callee}\({literal}(?:,{literal})*\)", module_text)
        calls[callee] = list(dict.fromkeys(found))[:6]
    return ValueContext(target, ProjectClasses(root, target.location.import_root).resolve, unambiguous, calls)


class ProjectClasses:
    """Finds the class an annotation names: defined in the target's module or imported from another
    module of the project (`from shop.catalog import Product` -> src/shop/catalog.py)."""

    def __init__(self, root: Path, import_root: str) -> None:
        self.root = root
        self.import_root = root / import_root if import_root else root
        self._documents: dict[str, ParsedDocument | None] = {}

    def resolve(self, name: str, target: TestTarget) -> ClassShape | None:
        origin = target.imported_names.get(name)
        if origin is None:
            return None
        if origin == "":
            module = target.location.module
            original = name
        elif ":" in origin:
            module, original = origin.split(":", 1)
        else:
            return None
        document = self._document(module)
        if document is None:
            return None
        shape = class_shape(document, original, module)
        if shape is None:
            # Re-exported from a package's __init__: follow one more import.
            origin = module_names(document).get(original, "")
            if ":" in origin:
                module, original = origin.split(":", 1)
                document = self._document(module)
                shape = class_shape(document, original, module) if document is not None else None
        return shape

    def _document(self, module: str) -> ParsedDocument | None:
        if module in self._documents:
            return self._documents[module]
        document = None
        base = self.import_root.joinpath(*module.split("."))
        for path in (base.with_suffix(".py"), base / "__init__.py"):
            try:
                document = ParsedDocument.parse(path.name, path.read_text(encoding="utf-8"), Language.PYTHON)
                break
            except (OSError, UnicodeDecodeError):
                continue
        self._documents[module] = document
        return document
