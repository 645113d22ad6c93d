"""Which tests exercise a source file: the test files that import it (directly, or through the
package `__init__` that re-exports it). The workspace index will add tests it finds related by
meaning; it plugs in as `more_related`."""

from __future__ import annotations

import ast
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from aqe.parsing.units import is_test_file

log = logging.getLogger(__name__)

RelatedTests = Callable[[Path], list[Path]]

_MAX_TEST_FILE_BYTES = 2_000_000


def module_names(source: Path, root: Path) -> set[str]:
    """Every dotted name the file may be imported as: `src/shop/cart.py` -> shop.cart, src.shop.cart, cart."""
    try:
        relative = source.resolve().relative_to(root.resolve()).with_suffix("")
    except ValueError:
        return set()
    parts = list(relative.parts)
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return {".".join(parts[start:]) for start in range(len(parts)) if parts[start:]}


def _imports(path: Path) -> set[str]:
    """Dotted names a file imports, including `pkg.name` for `from pkg import name`."""
    try:
        if path.stat().st_size > _MAX_TEST_FILE_BYTES:
            return set()
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    package = ".".join(path.with_suffix("").parts[-2:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: resolve against the file's own package, as far as we can
                module = ".".join(filter(None, [package, module]))
            names.add(module)
            names.update(f"{module}.{alias.name}" if module else alias.name for alias in node.names)
    return names


def _importers_of(
    names: set[str], candidates: Iterable[Path], other_modules: frozenset[str] = frozenset()
) -> list[Path]:
    """Files importing one of `names`, or something inside it that is not itself another module
    (`from shop import Cart` uses the package; `import shop.money` uses shop.money, not the package)."""
    found = []
    for candidate in candidates:
        imported = _imports(candidate)
        if any(
            name == wanted or (name.startswith(wanted + ".") and not _inside_module(name, other_modules))
            for name in imported
            for wanted in names
        ):
            found.append(candidate)
    return found


def _inside_module(name: str, modules: frozenset[str]) -> bool:
    parts = name.split(".")
    return any(".".join(parts[:end]) in modules for end in range(1, len(parts) + 1))


def related_tests(
    source: Path,
    root: Path,
    python_files: Iterable[Path],
    more_related: RelatedTests | None = None,
) -> list[Path]:
    """Test files to run for `source` (itself, when it is a test file)."""
    if is_test_file(str(source)):
        return [source]
    files = [Path(p) for p in python_files]
    names = module_names(source, root)
    # A package that re-exports the module (`from .cart import Cart` in shop/__init__.py) stands for it.
    for init in (f for f in files if f.name == "__init__.py" and not is_test_file(str(f))):
        if init.parent in source.parents and _importers_of(names | _relative_names(source, init), [init]):
            names |= module_names(init, root)
    own = module_names(source, root)
    other_modules = frozenset(name for f in files for name in module_names(f, root) if name not in own)
    tests = _importers_of(names, (f for f in files if is_test_file(str(f)) and f.suffix == ".py"), other_modules)
    if more_related is not None:
        try:
            tests.extend(path for path in more_related(source) if path not in tests)
        except Exception:  # the index only adds to the imports; without it, they still decide
            log.exception("finding related tests through the index failed; using imports only")
    return sorted(dict.fromkeys(tests))


def _relative_names(source: Path, init: Path) -> set[str]:
    """`.cart` as seen from shop/__init__.py is `shop.cart` after `_imports` resolves it."""
    relative = os.path.relpath(source.with_suffix(""), init.parent).replace(os.sep, ".")
    return {f"{init.parent.name}.{relative}"}
