"""What a test and the project code it calls do that can make it nondeterministic, read with
tree-sitter: the static evidence behind a flaky test's cause.

The test's own body, the fixtures it asks for (same file or a conftest.py above it) and the project
functions it calls (same file, conftest, or a project module it imports; one level deep, plus the
helpers of that module they call) are read. Each fact names its category, the file and line, and
the call, so a verdict can show it. A test's name or a failure's message never produces a fact.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tree_sitter import Node

from aqe.parsing.languages import Language, parser_for

MAX_SOURCE_BYTES = 512 * 1024


class Category(str, enum.Enum):
    RANDOM = "random"
    CLOCK = "clock"
    SLEEP = "sleep"
    THREADS = "threads"
    ASYNCIO = "asyncio"
    PROCESSES = "processes"
    NETWORK = "network"
    FILES = "files"
    UNCLOSED = "unclosed"
    ENVIRONMENT = "environment"
    SHARED_WRITE = "shared-write"
    SHARED_READ = "shared-read"
    UNORDERED = "unordered"
    FLOAT = "float"


@dataclass(frozen=True)
class StaticFact:
    category: Category
    file: str
    line: int
    """1-based."""
    code: str
    function: str
    depth: int
    """0: the test itself; 1: a fixture or function it calls; 2: a helper of that function."""

    def describe(self) -> str:
        where = "the test" if self.depth == 0 else f"{self.function}()"
        return f"{where} {_VERBS[self.category]} `{self.code}` at {self.file}:{self.line}"


_VERBS = {
    Category.RANDOM: "draws unseeded random values with",
    Category.CLOCK: "reads the clock with",
    Category.SLEEP: "waits a fixed time with",
    Category.THREADS: "starts threads with",
    Category.ASYNCIO: "schedules asyncio work with",
    Category.PROCESSES: "starts processes with",
    Category.NETWORK: "uses the network with",
    Category.FILES: "uses the file system with",
    Category.UNCLOSED: "opens without closing",
    Category.ENVIRONMENT: "uses environment variables with",
    Category.SHARED_WRITE: "changes module-level state with",
    Category.SHARED_READ: "reads module-level mutable state",
    Category.UNORDERED: "relies on the order of an unordered collection with",
    Category.FLOAT: "compares floating-point values exactly with",
}

_CALLS: tuple[tuple[Category, tuple[str, ...]], ...] = (
    (Category.SLEEP, ("time.sleep", "asyncio.sleep", "asyncio.wait_for", "threading.Event.wait")),
    (Category.CLOCK, ("time.time", "time.time_ns", "time.monotonic", "time.monotonic_ns", "time.perf_counter",
                      "time.perf_counter_ns", "time.localtime", "time.gmtime", "datetime.datetime.now",
                      "datetime.datetime.utcnow", "datetime.datetime.today", "datetime.date.today")),
    (Category.RANDOM, ("random.", "numpy.random.", "uuid.uuid1", "uuid.uuid4", "secrets.", "os.urandom")),
    (Category.THREADS, ("threading.Thread", "threading.Timer", "concurrent.futures.ThreadPoolExecutor",
                        "_thread.start_new_thread")),
    (Category.ASYNCIO, ("asyncio.create_task", "asyncio.gather", "asyncio.ensure_future", "asyncio.wait",
                        "asyncio.run_coroutine_threadsafe", "asyncio.Queue")),
    (Category.PROCESSES, ("multiprocessing.", "subprocess.", "concurrent.futures.ProcessPoolExecutor", "os.fork")),
    (Category.NETWORK, ("socket.", "urllib.request.", "http.client.", "http.server.", "ssl.", "smtplib.",
                        "ftplib.", "asyncio.open_connection", "requests.", "httpx.", "aiohttp.")),
    (Category.FILES, ("open", "io.open", "os.remove", "os.unlink", "os.rename", "os.replace", "os.mkdir",
                      "os.makedirs", "os.rmdir", "os.scandir", "os.stat", "os.path.exists", "os.path.getsize",
                      "shutil.", "tempfile.", "pathlib.Path", "glob.glob")),
    (Category.UNORDERED, ("set", "frozenset", "os.listdir", "glob.glob", "os.scandir")),
    (Category.ENVIRONMENT, ("os.getenv", "os.putenv", "os.environ.get", "os.environ.setdefault",
                            "os.environ.pop", "os.environ.update")),
)  # fmt: skip
_NOT_RANDOM = frozenset({"random.seed", "random.Random", "numpy.random.seed", "numpy.random.default_rng"})
_PATH_IO = frozenset({"write_text", "write_bytes", "read_text", "read_bytes", "unlink", "mkdir", "touch", "rename"})
_MUTATORS = frozenset({"append", "extend", "insert", "update", "setdefault", "pop", "popitem", "clear", "add",
                       "remove", "discard", "__setitem__"})  # fmt: skip
_MUTABLE_LITERALS = frozenset({"dictionary", "list", "set", "dictionary_comprehension", "list_comprehension"})


def _text(node: Node | None) -> str:
    return node.text.decode("utf-8", "replace") if node is not None and node.text else ""


def _walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _line(node: Node) -> int:
    return node.start_point[0] + 1


@dataclass
class _Module:
    """One parsed project file: its functions (by name, and `Class.method`), classes, fixtures,
    import aliases and module-level mutable names."""

    file: str
    functions: dict[str, Node]
    classes: dict[str, Node]
    aliases: dict[str, str]
    imported: dict[str, tuple[str, str]]
    """local name -> (module, attribute) for `from module import attribute [as name]`."""
    mutable_globals: frozenset[str]


class ProjectCode:
    """The project's Python files, parsed on demand and resolved by module name (root or `src/`)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._modules: dict[str, _Module | None] = {}

    def module(self, file: str) -> _Module | None:
        if file not in self._modules:
            self._modules[file] = self._parse(file)
        return self._modules[file]

    def _parse(self, file: str) -> _Module | None:
        path = self.root / file
        try:
            if not path.is_file() or path.stat().st_size > MAX_SOURCE_BYTES:
                return None
            data = path.read_bytes()
        except OSError:
            return None
        tree = parser_for(Language.PYTHON).parse(data)
        functions: dict[str, Node] = {}
        classes: dict[str, Node] = {}
        aliases: dict[str, str] = {}
        imported: dict[str, tuple[str, str]] = {}
        mutable: set[str] = set()
        for child in tree.root_node.named_children:
            definition = child.child_by_field_name("definition") if child.type == "decorated_definition" else child
            if definition is None:
                continue
            if definition.type == "function_definition":
                functions[_text(definition.child_by_field_name("name"))] = definition
            elif definition.type == "class_definition":
                class_name = _text(definition.child_by_field_name("name"))
                classes[class_name] = definition
                for inner in _walk(definition):
                    if inner.type == "function_definition":
                        functions[f"{class_name}.{_text(inner.child_by_field_name('name'))}"] = inner
            elif definition.type == "import_statement":
                for name in definition.named_children:
                    if name.type == "aliased_import":
                        aliases[_text(name.child_by_field_name("alias"))] = _text(name.child_by_field_name("name"))
                    else:
                        aliases[_text(name).split(".")[0]] = _text(name).split(".")[0]
            elif definition.type == "import_from_statement":
                module_name = _text(definition.child_by_field_name("module_name"))
                for name in definition.children_by_field_name("name"):
                    original = _text(name.child_by_field_name("name")) if name.type == "aliased_import" else _text(name)
                    local = _text(name.child_by_field_name("alias")) if name.type == "aliased_import" else original
                    aliases[local] = f"{module_name}.{original}"
                    imported[local] = (module_name, original)
            elif definition.type == "expression_statement" and definition.named_children:
                assignment = definition.named_children[0]
                right = assignment.child_by_field_name("right")
                left = assignment.child_by_field_name("left")
                if assignment.type == "assignment" and left is not None and left.type == "identifier":
                    is_call = right is not None and right.type == "call"
                    callee = _text(right.child_by_field_name("function")) if is_call else ""
                    if right is not None and (right.type in _MUTABLE_LITERALS or callee in ("dict", "list", "set")):
                        mutable.add(_text(left))
        return _Module(file, functions, classes, aliases, imported, frozenset(mutable))

    def module_file(self, dotted: str, near: str) -> str | None:
        """A project module's file, relative to the root; `near` is the importing file (for `.x`)."""
        if dotted.startswith("."):
            level = len(dotted) - len(dotted.lstrip("."))
            base = Path(near).parent
            for _ in range(level - 1):
                base = base.parent
            parts = [str(base), *dotted.lstrip(".").split(".")] if dotted.lstrip(".") else [str(base)]
            candidates = [Path(*parts)]
        else:
            relative = Path(*dotted.split("."))
            candidates = [relative, Path("src") / relative, Path(near).parent / relative]
        for candidate in candidates:
            for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
                if (self.root / path).is_file():
                    return path.as_posix()
        return None

    def conftests(self, file: str) -> list[str]:
        """conftest.py files from the test's folder up to the root, nearest first."""
        found = []
        folder = Path(file).parent
        while True:
            candidate = folder / "conftest.py"
            if (self.root / candidate).is_file():
                found.append(candidate.as_posix())
            if folder == Path("."):
                return found
            folder = folder.parent


def _qualified(callee: str, module: _Module) -> str:
    """`dt.now` with `from datetime import datetime as dt` -> `datetime.datetime.now`."""
    head, _, rest = callee.partition(".")
    full = module.aliases.get(head)
    if full is None:
        return callee
    return f"{full}.{rest}" if rest else full


def _matches(qualified: str, pattern: str) -> bool:
    if pattern.endswith("."):
        return qualified.startswith(pattern)
    return qualified == pattern


def static_facts(root: Path, file: str, test_name: str, class_name: str | None = None) -> list[StaticFact]:
    """The facts of one test (`file` relative to `root`); empty when its definition is not found."""
    code = ProjectCode(root)
    module = code.module(file)
    if module is None:
        return []
    key = f"{class_name}.{test_name}" if class_name and f"{class_name}.{test_name}" in module.functions else test_name
    node = module.functions.get(key) or module.functions.get(test_name.split("[")[0])
    if node is None:
        return []
    reader = _Reader(code)
    reader.read(module, node, test_name, depth=0)
    return reader.facts


class _Reader:
    def __init__(self, code: ProjectCode) -> None:
        self.code = code
        self.facts: list[StaticFact] = []
        self._seen: set[tuple[str, int]] = set()

    def read(self, module: _Module, function: Node, name: str, depth: int) -> None:
        if (module.file, function.start_byte) in self._seen:
            return
        self._seen.add((module.file, function.start_byte))
        local_names = _local_names(function)
        shared = module.mutable_globals | self._imported_mutables(module)
        seeded = any(
            _qualified(_text(n.child_by_field_name("function")), module) in ("random.seed", "numpy.random.seed")
            for n in _walk(function)
            if n.type == "call"
        )
        sleep_args: set[int] = set()
        for node in _walk(function):
            if node.type == "call":
                self._call(module, node, name, depth, local_names, seeded, sleep_args)
            elif node.type == "comparison_operator" and _is_float_equality(node):
                self._add(Category.FLOAT, module, node, _text(node), name, depth)
            elif node.type in ("set", "set_comprehension"):
                self._add(Category.UNORDERED, module, node, _text(node)[:60], name, depth)
            elif node.type in ("assignment", "augmented_assignment"):
                self._assignment(module, node, name, depth, local_names)
            elif node.type == "global_statement":
                for child in node.named_children:
                    self._add(Category.SHARED_WRITE, module, node, f"global {_text(child)}", name, depth)
            elif node.type == "identifier" and _text(node) in shared and _text(node) not in local_names:
                self._add(Category.SHARED_READ, module, node, _text(node), name, depth)
            elif node.type == "attribute" and _text(node) in ("os.environ",):
                self._add(Category.ENVIRONMENT, module, node, "os.environ", name, depth)
        if depth == 0 or depth == 1:
            self._fixtures(module, function, depth)

    def _imported_mutables(self, module: _Module) -> frozenset[str]:
        """Names imported from a project module where they are module-level mutable state."""
        names = set()
        for local, (dotted, attribute) in module.imported.items():
            file = self.code.module_file(dotted, module.file)
            other = self.code.module(file) if file else None
            if other is not None and attribute in other.mutable_globals:
                names.add(local)
        return frozenset(names)

    def _add(self, category: Category, module: _Module, node: Node, code: str, name: str, depth: int) -> None:
        fact = StaticFact(category, module.file, _line(node), " ".join(code.split())[:80], name, depth)
        if fact not in self.facts:
            self.facts.append(fact)

    def _call(
        self,
        module: _Module,
        node: Node,
        name: str,
        depth: int,
        local_names: set[str],
        seeded: bool,
        sleep_args: set[int],
    ) -> None:
        callee = _text(node.child_by_field_name("function"))
        qualified = _qualified(callee, module)
        categories = [c for c, patterns in _CALLS if any(_matches(qualified, p) for p in patterns)]
        if "." in callee and callee.rsplit(".", 1)[1] in _PATH_IO and callee.split(".")[0] not in ("self",):
            categories.append(Category.FILES)
        if callee.rsplit(".", 1)[-1] in ("wait", "join", "result", "get") and _has_timeout(node):
            categories.append(Category.SLEEP)  # an Event, thread, future or queue waited on for a fixed time
        if Category.SLEEP in categories:
            sleep_args.update(n.start_byte for n in _walk(node) if n is not node)
        for category in categories:
            if category is Category.RANDOM and (seeded or qualified in _NOT_RANDOM or node.start_byte in sleep_args):
                continue  # a seeded draw repeats; a random wait is a wait
            self._add(category, module, node, qualified if len(callee) < 60 else callee, name, depth)
        if qualified == "open" and not _closed(node):
            self._add(Category.UNCLOSED, module, node, _text(node), name, depth)
        owner, _, method = callee.rpartition(".")
        if owner and method in _MUTATORS and owner.split(".")[0] in module.mutable_globals:
            self._add(Category.SHARED_WRITE, module, node, callee, name, depth)
        if owner.split(".")[0] == "os" and "environ" in owner:
            self._add(Category.ENVIRONMENT, module, node, callee, name, depth)
        if depth < 2:
            self._follow(module, callee, depth)

    def _assignment(self, module: _Module, node: Node, name: str, depth: int, local_names: set[str]) -> None:
        left = node.child_by_field_name("left")
        if left is None:
            return
        target = _text(left)
        if target.startswith("os.environ"):
            self._add(Category.ENVIRONMENT, module, node, target, name, depth)
        elif left.type in ("subscript", "attribute"):
            base = _text(left.child_by_field_name("value") or left.child_by_field_name("object")).split(".")[0]
            if base in module.mutable_globals and base not in local_names:
                self._add(Category.SHARED_WRITE, module, node, target, name, depth)

    def _follow(self, module: _Module, callee: str, depth: int) -> None:
        """Read the project function (or class's methods) that `callee` names."""
        head, _, rest = callee.partition(".")
        if head in ("self", "cls"):
            owner = next((n for n in module.classes if f"{n}.{rest}" in module.functions), None)
            if owner is not None:
                self.read(module, module.functions[f"{owner}.{rest}"], f"{owner}.{rest}", depth + 1)
            return
        if not rest and head in module.functions:
            self.read(module, module.functions[head], head, depth + 1)
            return
        if not rest and head in module.classes:
            for key, function in module.functions.items():
                if key.startswith(head + "."):
                    self.read(module, function, key, depth + 1)
            return
        target = self._imported(module, head, rest)
        if target is not None:
            other, attribute = target
            if attribute in other.functions:
                self.read(other, other.functions[attribute], attribute, depth + 1)
            elif attribute in other.classes:
                for key, function in other.functions.items():
                    if key.startswith(attribute + "."):
                        self.read(other, function, key, depth + 1)

    def _imported(self, module: _Module, head: str, rest: str) -> tuple[_Module, str] | None:
        if head in module.imported:
            dotted, attribute = module.imported[head]
            submodule = self.code.module_file(f"{dotted}.{attribute}", module.file) if rest else None
            if submodule is not None:  # `from package import module`, then `module.function()`
                other = self.code.module(submodule)
                return (other, rest.split(".")[0]) if other is not None else None
            file = self.code.module_file(dotted, module.file)
            other = self.code.module(file) if file else None
            return (other, attribute) if other is not None else None
        if rest and head in module.aliases:
            file = self.code.module_file(module.aliases[head], module.file)
            other = self.code.module(file) if file else None
            return (other, rest.split(".")[0]) if other is not None else None
        return None

    def _fixtures(self, module: _Module, function: Node, depth: int) -> None:
        """The fixtures a test (or fixture) asks for by parameter name, from its file and conftests."""
        parameters = function.child_by_field_name("parameters")
        if parameters is None:
            return
        names = [_text(p) for p in parameters.named_children if p.type == "identifier"]
        names += [_text(p.child_by_field_name("name")) for p in parameters.named_children if p.type != "identifier"]
        places = [module, *filter(None, (self.code.module(f) for f in self.code.conftests(module.file)))]
        for parameter in names:
            for place in places:
                if parameter in place.functions and parameter not in ("self", "cls"):
                    self.read(place, place.functions[parameter], parameter, depth + 1)
                    break


def _local_names(function: Node) -> set[str]:
    names: set[str] = set()
    for node in _walk(function):
        if node.type == "assignment":
            left = node.child_by_field_name("left")
            if left is not None and left.type == "identifier":
                names.add(_text(left))
        elif node.type == "parameters":
            names.update(_text(child) for child in node.named_children if child.type == "identifier")
    return names


def _closed(call: Node) -> bool:
    """`open(...)` inside a `with`, or bound to a name whose `.close()` the function calls."""
    parent = call.parent
    while parent is not None and parent.type not in ("function_definition", "module"):
        if parent.type in ("with_item", "with_clause"):
            return True
        if parent.type == "assignment":
            name = _text(parent.child_by_field_name("left"))
            scope = parent
            while scope.parent is not None and scope.type != "function_definition":
                scope = scope.parent
            return f"{name}.close()" in _text(scope)
        parent = parent.parent
    return False


def _has_timeout(call: Node) -> bool:
    arguments = call.child_by_field_name("arguments")
    return arguments is not None and any(
        child.type == "keyword_argument" and _text(child.child_by_field_name("name")) == "timeout"
        for child in arguments.named_children
    )


def _is_float_equality(node: Node) -> bool:
    operators = [_text(child) for child in node.children if not child.is_named]
    if not any(op in ("==", "!=") for op in operators):
        return False
    return any(_has_float(child) for child in node.named_children)


def _has_float(node: Node) -> bool:
    if node.type == "float":
        return True
    if node.type == "call" and _text(node.child_by_field_name("function")) in ("sum", "math.fsum", "float"):
        return True
    if node.type == "binary_operator" and any(_text(c) == "/" for c in node.children if not c.is_named):
        return True
    return node.type in ("binary_operator", "parenthesized_expression", "unary_operator") and any(
        _has_float(child) for child in node.named_children
    )
