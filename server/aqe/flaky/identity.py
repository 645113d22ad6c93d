"""Who a test is and which code it ran against.

A test id is pytest's node id (`tests/test_cart.py::TestCart::test_add[2]`) whenever the test's file
can be found in the workspace; otherwise `classname::name` as the report wrote it. pytest's JUnit
names the module in `classname` (`tests.test_cart.TestCart`), jest-junit and others write a `file`
attribute; both lead to the same id, so history from CI and from `aqe flaky run` meets.

The code version is the git commit plus, when tracked files differ from it, a hash of the diff:
two runs on the same version ran the same code. The test's own source is hashed too, so editing a
test starts its history afresh.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from aqe.flaky.junit import TestCaseResult
from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import language_for_path
from aqe.parsing.units import CodeUnit, UnitKind, iter_units

log = logging.getLogger(__name__)

_PARAMETERS = re.compile(r"\[.*\]$")
_MAX_SOURCE_BYTES = 2_000_000


@dataclass(frozen=True)
class TestIdentity:
    __test__ = False  # a name pytest would otherwise try to collect

    test_id: str
    file: str | None
    """Workspace-relative POSIX path of the test's file, when known."""
    name: str
    """The test's name as its definition has it: the function name (no parameters) or JS title."""
    class_name: str | None = None


def identify(case: TestCaseResult, root: Path) -> TestIdentity:
    """The test id of a JUnit test case, resolved against the workspace at `root`."""
    name = case.name
    if case.file:
        relative = _relative(case.file, root)
        if relative is not None:
            classes = _classes_after_module(case.classname, relative)
            parts = [relative, *classes, name]
            return TestIdentity("::".join(parts), relative, _bare(name, relative), classes[-1] if classes else None)
    dotted = case.classname.split(".") if case.classname else []
    for cut in range(len(dotted), 0, -1):
        candidate = Path(*dotted[:cut]).with_suffix(".py")
        if (root / candidate).is_file():
            relative = candidate.as_posix()
            classes = dotted[cut:]
            return TestIdentity(
                "::".join([relative, *classes, name]), relative, _bare(name, relative), classes[-1] if classes else None
            )
    return TestIdentity(f"{case.classname}::{name}" if case.classname else name, None, _PARAMETERS.sub("", name))


def _bare(name: str, file: str) -> str:
    return _PARAMETERS.sub("", name) if file.endswith(".py") else name


def _relative(file: str, root: Path) -> str | None:
    path = Path(file)
    if not path.is_absolute():
        path = root / path
    try:
        return Path(os.path.realpath(path)).relative_to(Path(os.path.realpath(root))).as_posix()
    except ValueError:
        # Another checkout (a CI runner): the longest trailing part that exists here.
        parts = PurePosixPath(file.replace("\\", "/")).parts
        for start in range(1, len(parts)):
            tail = Path(*parts[start:])
            if (root / tail).is_file():
                return tail.as_posix()
        return None


def _classes_after_module(classname: str, relative: str) -> list[str]:
    """`tests.test_cart.TestCart` with file tests/test_cart.py -> ["TestCart"]."""
    module = PurePosixPath(relative).with_suffix("").as_posix().replace("/", ".")
    if classname.startswith(module + "."):
        return [part for part in classname[len(module) + 1 :].split(".") if part]
    return []


# A repository's .git/config can make git run programs (core.fsmonitor, hooks, diff and textconv
# drivers, filters): git only ever runs in a trusted workspace, with these off and a clean environment.
_SAFE_GIT = ("git", "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "diff.external=",
             "-c", "core.pager=cat", "-c", "protocol.allow=never")  # fmt: skip
_GIT_ENVIRONMENT_KEYS = ("PATH", "LANG", "LC_ALL")


def code_version(root: Path, *, trusted: bool) -> str | None:
    """`<commit>` or `<commit>+<diff hash>`; None outside a git repository (or without git).

    In an untrusted workspace git is never run: the commit is read from the .git files themselves,
    and local changes are not hashed."""
    if not trusted:
        return head_commit(root)
    environment = {key: os.environ[key] for key in _GIT_ENVIRONMENT_KEYS if key in os.environ}
    environment.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"})
    try:
        head = subprocess.run(
            [*_SAFE_GIT, "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=False,
            env=environment, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if head.returncode != 0:
            return None
        diff = subprocess.run(
            [*_SAFE_GIT, "diff", "HEAD", "--no-color", "--no-ext-diff", "--no-textconv"],
            cwd=root, capture_output=True, timeout=30, check=False, env=environment, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        log.debug("no code version for %s: %s", root, error)
        return None
    commit = head.stdout.strip()
    if diff.returncode == 0 and diff.stdout:
        return f"{commit}+{hashlib.sha256(diff.stdout).hexdigest()[:12]}"
    return commit


_COMMIT = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def head_commit(root: Path) -> str | None:
    """The commit HEAD names, read from the repository's files (no git, nothing of it runs)."""
    git_dir = _git_dir(root)
    if git_dir is None:
        return None
    head = _read_small(git_dir / "HEAD")
    if head is None:
        return None
    if _COMMIT.match(head):
        return head
    if not head.startswith("ref: "):
        return None
    ref = head[5:].strip()
    if ".." in ref or not ref.startswith("refs/"):
        return None
    common = git_dir
    common_text = _read_small(git_dir / "commondir")
    if common_text:
        common = (git_dir / common_text).resolve()
    for folder in (git_dir, common):
        value = _read_small(folder / ref)
        if value is not None and _COMMIT.match(value):
            return value
        packed = _read_small(folder / "packed-refs", limit=4_000_000)
        for line in (packed or "").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] == ref and _COMMIT.match(parts[0]):
                return parts[0]
    return None


def _git_dir(root: Path) -> Path | None:
    for folder in (root, *root.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():
            text = _read_small(dot_git)
            if text and text.startswith("gitdir: "):
                return (folder / text[8:].strip()).resolve()
            return None
    return None


def _read_small(path: Path, limit: int = 4096) -> str | None:
    try:
        if not path.is_file():
            return None
        with path.open("rb") as handle:
            return handle.read(limit).decode("utf-8", errors="replace").strip()
    except OSError:
        return None


class TestSources:
    """The definitions of tests in their files, parsed once per file (for hashes and positions)."""

    __test__ = False  # a name pytest would otherwise try to collect

    def __init__(self, root: Path) -> None:
        self.root = root
        self._units: dict[str, list[CodeUnit] | None] = {}
        self._texts: dict[str, bytes] = {}

    def _load(self, file: str) -> list[CodeUnit] | None:
        if file not in self._units:
            path = self.root / file
            language = language_for_path(path)
            units: list[CodeUnit] | None = None
            try:
                if language is not None and path.stat().st_size <= _MAX_SOURCE_BYTES:
                    text = path.read_text(encoding="utf-8", errors="replace")
                    document = ParsedDocument.parse(str(path), text, language)
                    units = [unit for unit, _ in iter_units(document) if unit.kind is not UnitKind.MODULE]
                    self._texts[file] = document.source.data
            except OSError:
                units = None
            self._units[file] = units
        return self._units[file]

    def unit_of(self, identity: TestIdentity) -> CodeUnit | None:
        if identity.file is None:
            return None
        units = [unit for unit in self._load(identity.file) or [] if unit.kind is UnitKind.TEST_FUNCTION]
        return find_unit(units, identity)

    def source_of(self, identity: TestIdentity) -> str | None:
        unit = self.unit_of(identity)
        if unit is None or identity.file is None:
            return None
        return self._texts[identity.file][unit.start_byte : unit.end_byte].decode("utf-8", "replace")

    def context_source(self, identity: TestIdentity) -> str | None:
        """The test and the functions of its own file that it calls: what its outcome depends on locally."""
        own = self.source_of(identity)
        if own is None or identity.file is None:
            return own
        data = self._texts[identity.file]
        called = [
            data[unit.start_byte : unit.end_byte].decode("utf-8", "replace")
            for unit in self._load(identity.file) or []
            if unit.kind is UnitKind.FUNCTION
            and unit.name != identity.name
            and re.search(rf"\b{re.escape(unit.name)}\(", own)
        ]
        return "\n\n".join([own, *called])

    def test_hash(self, identity: TestIdentity) -> str | None:
        source = self.source_of(identity)
        return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()[:16] if source else None


def find_unit(units: list[CodeUnit], identity: TestIdentity) -> CodeUnit | None:
    """The definition of a test among a file's test units: by name (and class), or by a JS title that
    the report prefixed with its describe blocks ("Cart adds items")."""
    for unit in units:
        if unit.name == identity.name and (identity.class_name is None or unit.parent == identity.class_name):
            return unit
    for unit in units:
        qualified = unit.qualified_name.replace(".", " ")
        if identity.name in (qualified, unit.name) or identity.name.endswith(" " + unit.name):
            return unit
    return None
