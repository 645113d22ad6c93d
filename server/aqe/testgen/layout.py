"""Where a module is imported from and where the team keeps its tests, learned from the workspace.

A generated test must import the code the way the project's own tests do and live where they live,
or it will not run (or will not be accepted). Everything here reads files; nothing runs.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language
from aqe.parsing.units import is_test_file, iter_units
from aqe.review.conventions import test_framework_of
from aqe.workspace import Workspace

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

_MAX_TEST_FILES_READ = 400
_MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class ModuleLocation:
    module: str
    """Dotted import path: `shop.pricing`."""
    import_root: str
    """Workspace-relative folder that must be on sys.path for the import (`src`, or `` for the root)."""


def module_location(root: Path, relative_path: str) -> ModuleLocation | None:
    """The import path of a workspace file: the topmost package folder (with `__init__.py`) holding
    it decides where its import root is; a `src/` layout or `pythonpath` in pytest's settings agree."""
    path = PurePosixPath(relative_path)
    if path.suffix not in (".py", ".pyi"):
        return None
    parts = list(path.with_suffix("").parts)
    folder = root.joinpath(*path.parent.parts)
    depth = 0
    while depth < len(path.parent.parts) and (folder / "__init__.py").is_file():
        folder = folder.parent
        depth += 1
    package_parts = parts[len(path.parent.parts) - depth :]
    if parts[-1] == "__init__":
        package_parts = package_parts[:-1]
    if not package_parts or not all(part.isidentifier() for part in package_parts):
        return None
    import_root = PurePosixPath(*path.parent.parts[: len(path.parent.parts) - depth]).as_posix()
    return ModuleLocation(".".join(package_parts), "" if import_root == "." else import_root)


def pytest_pythonpath(root: Path) -> tuple[str, ...]:
    """`[tool.pytest.ini_options] pythonpath` of the workspace, when set (pytest 7+)."""
    try:
        data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return ()
    value = data.get("tool", {}).get("pytest", {}).get("ini_options", {}).get("pythonpath", ())
    if isinstance(value, str):
        value = value.split()
    return tuple(str(item) for item in value if isinstance(item, str))


@dataclass(frozen=True)
class TestConventions:
    __test__ = False  # a name pytest would otherwise try to collect

    framework: str
    """"pytest" or "unittest": what most test files use."""
    test_folder: str | None
    """Where most test files live (`tests`), or None when tests sit beside the code."""
    file_pattern: str
    """"test_{module}.py" or "{module}_test.py"."""
    mirrors_packages: bool
    """Test files repeat the package folders (`tests/shop/test_cart.py`)."""
    import_style: str
    """"from" (`from shop.cart import Cart`) or "module" (`import shop.cart`)."""
    fixtures: tuple[tuple[str, str | None], ...]
    """Fixtures in conftest.py files: (name, return annotation)."""
    test_files: int
    evidence: str
    """Why, in a sentence a person can check ("12 of 14 test files use plain pytest functions")."""
    parametrizes: bool = False
    """A third or more of the test files use `@pytest.mark.parametrize`: so do generated tests."""

    def test_path_for(self, module: ModuleLocation, source_path: str) -> str:
        """Where a new test file for this module goes (workspace-relative)."""
        stem = module.module.rsplit(".", 1)[-1]
        name = self.file_pattern.format(module=stem)
        if self.test_folder is None:
            return (PurePosixPath(source_path).parent / name).as_posix()
        folder = PurePosixPath(self.test_folder)
        if self.mirrors_packages:
            folder = folder.joinpath(*module.module.split(".")[:-1])
        return (folder / name).as_posix()


def learn_conventions(workspace: Workspace, root: Path) -> TestConventions:
    test_files: list[tuple[str, str]] = []
    for path in workspace.iter_source_files([root]):
        relative = path.relative_to(root).as_posix()
        if path.suffix != ".py" or not is_test_file(relative) or path.name == "conftest.py":
            continue
        text = workspace.read_text(path, _MAX_BYTES)
        if isinstance(text, str):
            test_files.append((relative, text))
        if len(test_files) >= _MAX_TEST_FILES_READ:
            break
    frameworks: Counter[str] = Counter()
    folders: Counter[str | None] = Counter()
    patterns: Counter[str] = Counter()
    imports: Counter[str] = Counter()
    nested = parametrized = 0
    for relative, text in test_files:
        parametrized += "mark.parametrize(" in text
        document = ParsedDocument.parse(relative, text, Language.PYTHON)
        kinds = {unit.kind for unit, _ in iter_units(document)}
        frameworks[test_framework_of(text, kinds)] += 1
        parts = PurePosixPath(relative).parts
        top = parts[0] if len(parts) > 1 and parts[0] in ("tests", "test", "testing") else None
        folders[top] += 1
        nested += top is not None and len(parts) > 2
        name = parts[-1]
        patterns["{module}_test.py" if name.endswith("_test.py") else "test_{module}.py"] += 1
        imports["from"] += len(re.findall(r"^from [\w.]+ import ", text, re.M))
        imports["module"] += len(re.findall(r"^import [\w.]+\s*$", text, re.M))
    count = len(test_files)
    framework = frameworks.most_common(1)[0][0] if frameworks else "pytest"
    folder = folders.most_common(1)[0][0] if folders else "tests"
    evidence = (
        f"{frameworks[framework]} of {count} test files use {framework}"
        + (f", {folders[folder]} live under {folder}/" if folder else "")
        if count
        else "no test files yet: pytest under tests/"
    )
    return TestConventions(
        framework=framework,
        test_folder=folder if count else "tests",
        file_pattern=patterns.most_common(1)[0][0] if patterns else "test_{module}.py",
        mirrors_packages=count > 0 and nested * 2 > count,
        import_style="module" if imports["module"] > imports["from"] else "from",
        fixtures=tuple(_fixtures(workspace, root)),
        test_files=count,
        evidence=evidence,
        parametrizes=count > 0 and parametrized * 3 >= count,
    )


_FIXTURE = re.compile(
    r"@pytest\.fixture(?:\([^)]*\))?\s*\n(?:@[^\n]*\n)*\s*def (\w+)\(([^)]*)\)\s*(?:->\s*([^:]+))?:", re.M
)


def _fixtures(workspace: Workspace, root: Path) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    for path in sorted(root.rglob("conftest.py")):
        if not workspace.contains(path) or workspace.is_excluded(path) or ".venv" in path.parts:
            continue
        text = workspace.read_text(path, _MAX_BYTES)
        if isinstance(text, str):
            for name, _, annotation in _FIXTURE.findall(text):
                found.append((name, annotation.strip() if annotation else None))
    return found
