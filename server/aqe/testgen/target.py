"""The function under test, read from its syntax tree: signature, doctests, the literals it compares
against, its class, and the classes its parameters need (so inputs can be built without a model)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tree_sitter import Node

from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language
from aqe.parsing.units import CodeUnit, UnitKind, extract_units, iter_units
from aqe.testgen.layout import ModuleLocation, module_location
from aqe.testgen.mining import MAX_NUMBERS, MAX_STRINGS, merge_sources, mine_inputs, module_assignments

ParameterKind = Literal["positional", "keyword", "var_positional", "var_keyword"]
_MAX_LITERALS = 40
_DOCTEST = re.compile(r"^\s*>>> (.+)$")


class TargetError(Exception):
    """There is nothing aqe can write a test for here (with the reason, fit to show)."""


@dataclass(frozen=True)
class Parameter:
    name: str
    annotation: str | None = None
    default: str | None = None
    kind: ParameterKind = "positional"


@dataclass(frozen=True)
class Doctest:
    source: str
    expected: str | None


@dataclass(frozen=True)
class ClassShape:
    """How to build an instance: its constructor's parameters (dataclass fields or `__init__`)."""

    name: str
    module: str
    parameters: tuple[Parameter, ...]
    enum_members: tuple[str, ...] = ()
    is_dataclass: bool = False


@dataclass(frozen=True)
class TestTarget:
    __test__ = False  # a name pytest would otherwise try to collect

    path: str
    """Workspace-relative file of the function."""
    location: ModuleLocation
    name: str
    qualified_name: str
    class_name: str | None
    binding: Literal["function", "method", "staticmethod", "classmethod"]
    parameters: tuple[Parameter, ...]
    """Without `self`/`cls`."""
    return_annotation: str | None
    is_async: bool
    docstring: str | None
    doctests: tuple[Doctest, ...]
    source: str
    start_line: int
    """1-based, as coverage.py counts: the `def` line."""
    end_line: int
    string_literals: tuple[str, ...] = ()
    number_literals: tuple[str, ...] = ()
    attributes_read: frozenset[str] = frozenset()
    """Attribute names the body reads (`customer.is_staff` -> `is_staff`): the fields worth varying."""
    imported_names: dict[str, str] = field(default_factory=dict, hash=False)
    """Names the module imports or defines -> the module they come from (`Decimal` -> `decimal`)."""
    owner: ClassShape | None = None
    """The class of a method, to build the instance it is called on."""
    type_aliases: dict[str, str] = field(default_factory=dict, hash=False)
    """Module-level aliases (`NumberOrString: TypeAlias = float | str`), even under TYPE_CHECKING."""

    @property
    def call_prefix(self) -> str:
        """How a test reaches the callable once the module's names are imported."""
        return f"{self.class_name}.{self.name}" if self.class_name and self.binding != "method" else self.name


def find_target(
    root: Path, relative_path: str, text: str, line: int, character: int, parsed: ParsedDocument | None = None
) -> TestTarget:
    """The function or method at a position (0-based LSP line/character). `parsed` is the editor's
    already parsed copy of `text`, when there is one (code actions ask on every cursor move)."""
    from aqe.index.service import unit_at

    document = parsed if parsed is not None else ParsedDocument.parse(relative_path, text, Language.PYTHON)
    unit = unit_at(extract_units(document), line, character)
    if unit is None:
        raise TargetError("there is no function or method at the cursor")
    if unit.kind.is_test:
        raise TargetError(f"`{unit.name}` is a test; put the cursor on the function it should test")
    if unit.kind is UnitKind.CLASS:
        raise TargetError(f"`{unit.name}` is a class; put the cursor on one of its methods")
    return target_from_unit(root, relative_path, document, unit)


def find_target_by_name(root: Path, relative_path: str, text: str, qualified_name: str) -> TestTarget:
    document = ParsedDocument.parse(relative_path, text, Language.PYTHON)
    for unit in extract_units(document):
        if unit.qualified_name != qualified_name:
            continue
        if unit.kind in (UnitKind.FUNCTION, UnitKind.METHOD):
            return target_from_unit(root, relative_path, document, unit)
        if unit.kind.is_test:
            raise TargetError(f"`{qualified_name}` is a test already; name the function it tests")
        if unit.kind is UnitKind.CLASS:
            raise TargetError(f"`{qualified_name}` is a class; name one of its methods ({qualified_name}.METHOD)")
    raise TargetError(f"{relative_path} has no function or method named {qualified_name}")


def target_from_unit(root: Path, relative_path: str, document: ParsedDocument, unit: CodeUnit) -> TestTarget:
    location = module_location(root, relative_path)
    if location is None:
        raise TargetError(f"{relative_path} cannot be imported as a module (its folder names are not identifiers)")
    if unit.name.startswith("__") and unit.name.endswith("__") and unit.name != "__init__":
        raise TargetError(f"`{unit.qualified_name}` is a special method; test the behaviour that uses it instead")
    node = _definition_node(document, unit)
    if node is None:
        raise TargetError(f"`{unit.qualified_name}` could not be read")
    if "." in (unit.parent or ""):
        raise TargetError(f"`{unit.qualified_name}` is nested in another function and cannot be imported")
    parent_is_function = any(
        u.qualified_name == unit.parent and u.kind in (UnitKind.FUNCTION, UnitKind.METHOD)
        for u in extract_units(document)
    )
    if parent_is_function:
        raise TargetError(f"`{unit.qualified_name}` is defined inside a function and cannot be imported")
    decorators = set(unit.decorators)
    binding: Literal["function", "method", "staticmethod", "classmethod"] = "function"
    if unit.kind is UnitKind.METHOD:
        binding = (
            "staticmethod"
            if "staticmethod" in decorators
            else "classmethod"
            if "classmethod" in decorators
            else "method"
        )
    if "property" in decorators or any(d.endswith(".setter") for d in decorators):
        raise TargetError(f"`{unit.qualified_name}` is a property; test the class through it instead")
    parameters = _parameters(node)
    if binding in ("method", "classmethod") and parameters:
        parameters = parameters[1:]
    body = node.child_by_field_name("body")
    strings, numbers = _literals(body) if body is not None else ((), ())
    if body is not None:
        constants = _module_constants(document)
        used = [constants[name] for name in _identifiers(body) if name in constants]
        mined = mine_inputs(document, body)  # separators, patterns, tables, boundaries of it and its callees
        strings = merge_sources(mined.strings, [*strings, *(v for kind, v in used if kind == "string")], MAX_STRINGS)
        numbers = merge_sources([*numbers, *(v for kind, v in used if kind == "number")], mined.numbers, MAX_NUMBERS)
    attributes = _attributes(body) if body is not None else frozenset()
    names = module_names(document)
    owner = None
    if unit.kind is UnitKind.METHOD and unit.parent:
        owner = class_shape(document, unit.parent, location.module)
    return_type = node.child_by_field_name("return_type")
    source = document.source.data[unit.start_byte : unit.end_byte].decode("utf-8", errors="replace")
    return TestTarget(
        path=relative_path,
        location=location,
        name=unit.name,
        qualified_name=unit.qualified_name,
        class_name=unit.parent,
        binding=binding,
        parameters=parameters,
        return_annotation=_text(return_type) if return_type is not None else None,
        is_async=_text(node).startswith("async"),
        docstring=unit.docstring,
        doctests=_doctests(unit.docstring or ""),
        source=source,
        start_line=node.start_point[0] + 1,
        end_line=node.end_point[0] + 1,
        string_literals=strings,
        number_literals=numbers,
        attributes_read=attributes,
        imported_names=names,
        owner=owner,
        type_aliases=_type_aliases(document),
    )


def _definition_node(document: ParsedDocument, unit: CodeUnit) -> Node | None:
    for candidate, node in iter_units(document):
        if candidate == unit:
            return node
    return None


def _text(node: Node | None) -> str:
    return node.text.decode("utf-8", errors="replace") if node is not None and node.text else ""


def _parameters(definition: Node) -> tuple[Parameter, ...]:
    node = definition.child_by_field_name("parameters")
    if node is None:
        return ()
    parameters: list[Parameter] = []
    keyword_only = False
    for child in node.named_children:
        kind: ParameterKind = "keyword" if keyword_only else "positional"
        if child.type == "identifier":
            parameters.append(Parameter(_text(child), kind=kind))
        elif child.type in ("typed_parameter", "typed_default_parameter", "default_parameter"):
            name_node = child.child_by_field_name("name") or child.named_children[0]
            if name_node.type in ("list_splat_pattern", "dictionary_splat_pattern"):
                splat = "var_positional" if name_node.type == "list_splat_pattern" else "var_keyword"
                parameters.append(
                    Parameter(
                        _text(name_node.named_children[0]), _text(child.child_by_field_name("type")) or None, kind=splat
                    )
                )
                keyword_only = keyword_only or splat == "var_positional"
                continue
            annotation = child.child_by_field_name("type")
            default = child.child_by_field_name("value")
            parameters.append(
                Parameter(
                    _text(name_node),
                    _text(annotation) if annotation is not None else None,
                    _text(default) if default is not None else None,
                    kind,
                )
            )
        elif child.type == "list_splat_pattern":
            parameters.append(Parameter(_text(child.named_children[0]), kind="var_positional"))
            keyword_only = True
        elif child.type == "dictionary_splat_pattern":
            parameters.append(Parameter(_text(child.named_children[0]), kind="var_keyword"))
        elif child.type == "keyword_separator":
            keyword_only = True
    return tuple(parameters)


def _literals(body: Node) -> tuple[tuple[str, ...], tuple[str, ...]]:
    strings: list[str] = []
    numbers: list[str] = []
    stack = [body]
    while stack:
        node = stack.pop()
        if node.type == "string" and node.parent is not None and node.parent.type != "expression_statement":
            if not any(c.type == "interpolation" for c in node.named_children):
                strings.append(_text(node))
        elif node.type in ("integer", "float"):
            numbers.append(_text(node))
        elif (
            node.type == "unary_operator"
            and _text(node).startswith("-")
            and node.named_children
            and node.named_children[-1].type in ("integer", "float")
        ):
            numbers.append(_text(node).replace(" ", ""))
            continue
        stack.extend(reversed(node.children))
    return tuple(dict.fromkeys(strings))[:_MAX_LITERALS], tuple(dict.fromkeys(numbers))[:_MAX_LITERALS]


_TYPE_EXPRESSION = re.compile(r"^[\w.\[\], |\"']+$")


def _type_aliases(document: ParsedDocument) -> dict[str, str]:
    aliases: dict[str, str] = {}
    blocks = [document.tree.root_node]
    for child in document.tree.root_node.named_children:
        condition = child.child_by_field_name("condition") if child.type == "if_statement" else None
        if condition is not None and _text(condition).endswith("TYPE_CHECKING"):
            consequence = child.child_by_field_name("consequence")
            if consequence is not None:
                blocks.append(consequence)
    for block in blocks:
        for name, right, assignment in module_assignments(document, block):
            annotation = assignment.child_by_field_name("type")
            value = _text(right)
            explicit = annotation is not None and _text(annotation).endswith("TypeAlias")
            looks_like_type = value.startswith(("Union[", "Optional[", "Literal[")) or (
                "|" in value and _TYPE_EXPRESSION.match(value) is not None
            )
            if explicit or (annotation is None and looks_like_type):
                aliases[name] = value
    return aliases


def _identifiers(body: Node) -> list[str]:
    names: list[str] = []
    stack = [body]
    while stack:
        node = stack.pop()
        if node.type == "identifier":
            names.append(_text(node))
        stack.extend(reversed(node.children))
    return list(dict.fromkeys(names))


def _module_constants(document: ParsedDocument) -> dict[str, tuple[str, str]]:
    """Top-level `NAME = 5000` / `NAME = "gold"` / `NAME = Decimal(20)`: a function that compares with
    FREE_SHIPPING_FROM_CENTS needs 5000 among its inputs as much as one that writes 5000."""
    constants: dict[str, tuple[str, str]] = {}
    for name, right, _ in module_assignments(document):
        if right.type in ("integer", "float"):
            constants[name] = ("number", _text(right))
        elif right.type == "string" and not any(c.type == "interpolation" for c in right.named_children):
            constants[name] = ("string", _text(right))
        elif right.type == "call":
            arguments = right.child_by_field_name("arguments")
            values = arguments.named_children if arguments is not None else []
            if len(values) == 1 and values[0].type in ("integer", "float"):
                constants[name] = ("number", _text(values[0]))
    return constants


def _attributes(body: Node) -> frozenset[str]:
    names: set[str] = set()
    stack = [body]
    while stack:
        node = stack.pop()
        if node.type == "attribute":
            attribute = node.child_by_field_name("attribute")
            if attribute is not None:
                names.add(_text(attribute))
        stack.extend(node.children)
    return frozenset(names)


def _doctests(docstring: str) -> tuple[Doctest, ...]:
    tests: list[Doctest] = []
    lines = docstring.splitlines()
    for number, line in enumerate(lines):
        match = _DOCTEST.match(line)
        if match is None:
            continue
        following = lines[number + 1].strip() if number + 1 < len(lines) else ""
        expected = following if following and not following.startswith(">>>") else None
        tests.append(Doctest(match.group(1).strip(), expected))
    return tuple(tests)


def module_names(document: ParsedDocument) -> dict[str, str]:
    """Top-level names -> the module they come from; names defined in the file map to ''."""
    names: dict[str, str] = {}
    for child in document.tree.root_node.named_children:
        if child.type == "import_from_statement":
            module = _text(child.child_by_field_name("module_name"))
            for name_node in child.children_by_field_name("name"):
                if name_node.type == "aliased_import":
                    names[_text(name_node.child_by_field_name("alias"))] = (
                        f"{module}:{_text(name_node.child_by_field_name('name'))}"
                    )
                else:
                    names[_text(name_node)] = f"{module}:{_text(name_node)}"
        elif child.type == "import_statement":
            for name_node in child.named_children:
                if name_node.type == "aliased_import":
                    names[_text(name_node.child_by_field_name("alias"))] = _text(name_node.child_by_field_name("name"))
                else:
                    dotted = _text(name_node)
                    names[dotted.split(".")[0]] = dotted.split(".")[0]
        definition = child.child_by_field_name("definition") if child.type == "decorated_definition" else child
        if definition is not None and definition.type in ("class_definition", "function_definition"):
            names[_text(definition.child_by_field_name("name"))] = ""
    return names


def class_shape(document: ParsedDocument, class_name: str, module: str) -> ClassShape | None:
    """The constructor of a top-level class of this document: dataclass fields, `__init__`, or enum
    members."""
    for child in document.tree.root_node.named_children:
        decorators: list[str] = []
        definition = child
        if child.type == "decorated_definition":
            decorators = [_text(d).lstrip("@") for d in child.named_children if d.type == "decorator"]
            definition = child.child_by_field_name("definition") or child
        if definition.type != "class_definition" or _text(definition.child_by_field_name("name")) != class_name:
            continue
        body = definition.child_by_field_name("body")
        bases = _text(definition.child_by_field_name("superclasses"))
        if body is None:
            return ClassShape(class_name, module, ())
        if "Enum" in bases:
            members = tuple(
                _text(s.named_children[0].child_by_field_name("left"))
                for s in body.named_children
                if s.type == "expression_statement" and s.named_children and s.named_children[0].type == "assignment"
            )
            return ClassShape(class_name, module, (), enum_members=members)
        is_dataclass = any(d.split("(")[0].endswith("dataclass") for d in decorators)
        if is_dataclass:
            fields: list[Parameter] = []
            for statement in body.named_children:
                if statement.type != "expression_statement" or not statement.named_children:
                    continue
                assignment = statement.named_children[0]
                if assignment.type != "assignment" or assignment.child_by_field_name("type") is None:
                    continue
                right = assignment.child_by_field_name("right")
                default = _text(right) if right is not None else None
                if default is not None and default.startswith("field("):
                    default = "..." if "default" in default else None
                fields.append(
                    Parameter(
                        _text(assignment.child_by_field_name("left")),
                        _text(assignment.child_by_field_name("type")),
                        default,
                    )
                )
            return ClassShape(class_name, module, tuple(fields), is_dataclass=True)
        for statement in body.named_children:
            function = (
                statement.child_by_field_name("definition") if statement.type == "decorated_definition" else statement
            )
            if (
                function is not None
                and function.type == "function_definition"
                and _text(function.child_by_field_name("name")) == "__init__"
            ):
                return ClassShape(class_name, module, _parameters(function)[1:])
        return ClassShape(class_name, module, ())
    return None
