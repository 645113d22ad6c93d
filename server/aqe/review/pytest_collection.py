"""What pytest would collect: its collection options read from the project's own configuration.

A function named `test_*` is only a test when pytest runs it: a template engine's `tests.py`, a
benchmark folder the project's `testpaths` leaves out or a helper nested in a test are not. The
options come from the first configuration file pytest itself would pick (pytest.ini, .pytest.ini,
pyproject.toml [tool.pytest.ini_options], tox.ini [pytest], setup.cfg [tool:pytest]), walking up
from the file, with pytest's defaults otherwise. The server reviews on every keystroke, so a
parsed configuration is cached per file (keyed by its modification time) and only the stat calls
of the upward search are repeated.
"""

from __future__ import annotations

import configparser
import fnmatch
import shlex
import sys
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_PYTHON_FILES = ("test_*.py", "*_test.py")
DEFAULT_PYTHON_CLASSES = ("Test",)
DEFAULT_PYTHON_FUNCTIONS = ("test",)
DEFAULT_NORECURSEDIRS = ("*.egg", ".*", "_darcs", "build", "CVS", "dist", "node_modules", "venv", "{arch}")
_CANDIDATES = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")
_INI_SECTIONS = {"pytest.ini": "pytest", ".pytest.ini": "pytest", "tox.ini": "pytest", "setup.cfg": "tool:pytest"}


@dataclass(frozen=True)
class PytestCollection:
    """pytest's collection options for one project; `rootdir` is None when no config was found."""

    python_files: tuple[str, ...] = DEFAULT_PYTHON_FILES
    python_classes: tuple[str, ...] = DEFAULT_PYTHON_CLASSES
    python_functions: tuple[str, ...] = DEFAULT_PYTHON_FUNCTIONS
    testpaths: tuple[str, ...] = ()
    norecursedirs: tuple[str, ...] = DEFAULT_NORECURSEDIRS
    rootdir: Path | None = None
    async_runners: frozenset[str] = frozenset()
    """Plugins the configuration turns on for every `async def` test: "asyncio" (asyncio_mode = auto,
    in the ini or in addopts) and "trio" (trio_mode = true); marks are read from the test itself."""

    def collects_file(self, path: str) -> bool:
        """Whether `pytest` run without arguments in the root directory would collect this module."""
        pure = PurePosixPath(Path(path).as_posix())
        if pure.name == "conftest.py" or not any(_file_matches(p, pure) for p in self.python_files):
            return False
        relative = self._relative_to_root(pure)
        if relative is None:
            return True
        if self.testpaths and not any(_under_testpath(relative, t) for t in self.testpaths):
            return False
        return not any(fnmatch.fnmatch(part, pattern) for part in relative.parts[:-1] for pattern in self.norecursedirs)

    def collects_function(self, name: str) -> bool:
        return matches_prefix_or_glob(name, self.python_functions)

    def collects_class(self, name: str) -> bool:
        return matches_prefix_or_glob(name, self.python_classes)

    def _relative_to_root(self, pure: PurePosixPath) -> PurePosixPath | None:
        if self.rootdir is None or not pure.is_absolute():
            return None
        try:
            return pure.relative_to(PurePosixPath(self.rootdir.as_posix()))
        except ValueError:
            return None


def matches_prefix_or_glob(name: str, options: tuple[str, ...]) -> bool:
    """pytest's `matches_prefix_or_glob_option`: a prefix, or a glob when the option has one."""
    for option in options:
        if name.startswith(option):
            return True
        if any(c in option for c in "*?[") and fnmatch.fnmatch(name, option):
            return True
    return False


def _file_matches(pattern: str, path: PurePosixPath) -> bool:
    """pytest's `fnmatch_ex`: a pattern without a slash matches the file name only."""
    if "/" not in pattern:
        return fnmatch.fnmatch(path.name, pattern)
    return fnmatch.fnmatch(str(path), pattern if pattern.startswith("/") else f"*/{pattern}")


def _under_testpath(relative: PurePosixPath, testpath: str) -> bool:
    prefix = PurePosixPath(testpath.strip("/") or ".")
    if prefix == PurePosixPath("."):
        return True
    if any(c in testpath for c in "*?["):
        return any(fnmatch.fnmatch(str(parent), str(prefix)) for parent in relative.parents)
    return relative == prefix or prefix in relative.parents


def _as_list(value: object) -> tuple[str, ...] | None:
    """An ini value is whitespace-separated (quotes allowed); a TOML value may be a list or a string."""
    if value is None:
        return None
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return tuple(shlex.split(str(value)))


def _options_from(path: Path) -> dict[str, object] | None:
    """The pytest options a config file holds; None when pytest would not choose this file."""
    try:
        if path.name == "pyproject.toml":
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            options = data.get("tool", {}).get("pytest", {}).get("ini_options")
            return dict(options) if isinstance(options, dict) else None
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_string(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, configparser.Error):
        return None
    section = _INI_SECTIONS[path.name]
    if not parser.has_section(section):
        return {} if path.name in ("pytest.ini", ".pytest.ini") else None
    return dict(parser.items(section))


def _async_runners(options: dict[str, object]) -> frozenset[str]:
    """pytest-asyncio's auto mode and pytest-trio's trio mode await every coroutine test unmarked."""
    runners: set[str] = set()
    addopts = " ".join(_as_list(options.get("addopts")) or ())
    asyncio_mode = str(options.get("asyncio_mode", "")).strip().lower()
    if asyncio_mode == "auto" or "--asyncio-mode=auto" in addopts or "--asyncio-mode auto" in addopts:
        runners.add("asyncio")
    if str(options.get("trio_mode", "")).strip().lower() in ("true", "1", "yes", "on"):
        runners.add("trio")
    return frozenset(runners)


_cache_lock = threading.Lock()
_parsed: dict[Path, tuple[int, int, PytestCollection | None]] = {}


def _collection_from(path: Path) -> PytestCollection | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    with _cache_lock:
        cached = _parsed.get(path)
    if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
        return cached[2]
    options = _options_from(path)
    collection = None
    if options is not None:
        collection = PytestCollection(
            python_files=_as_list(options.get("python_files")) or DEFAULT_PYTHON_FILES,
            python_classes=_as_list(options.get("python_classes")) or DEFAULT_PYTHON_CLASSES,
            python_functions=_as_list(options.get("python_functions")) or DEFAULT_PYTHON_FUNCTIONS,
            testpaths=_as_list(options.get("testpaths")) or (),
            norecursedirs=_as_list(options.get("norecursedirs")) or DEFAULT_NORECURSEDIRS,
            rootdir=path.parent,
            async_runners=_async_runners(options),
        )
    with _cache_lock:
        _parsed[path] = (stat.st_mtime_ns, stat.st_size, collection)
    return collection


def collection_for(path: str) -> PytestCollection:
    """The collection options that apply to the file at `path`.

    A relative path (an unsaved buffer, a snippet) has no project: pytest's defaults apply.
    """
    file = Path(path)
    if not file.is_absolute():
        return PytestCollection()
    for directory in file.parents:
        for name in _CANDIDATES:
            candidate = directory / name
            if candidate.is_file():
                found = _collection_from(candidate)
                if found is not None:
                    return found
    return PytestCollection()
