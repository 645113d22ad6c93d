"""Which files belong to the workspace, and reading them safely.

Every disk read of a user file goes through here: URIs are resolved to real paths (symlinks and `..`
followed) and refused when they land outside the workspace folders (pygls' own workspace would read
any path it is asked about); sizes are capped before reading; binary and non-UTF-8 files are skipped
with a reason instead of an exception.
"""

from __future__ import annotations

import enum
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import pathspec

from aqe.parsing.languages import supported_suffixes

# Folders that are never a team's own source code; skipped without reading any .gitignore.
SKIPPED_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "node_modules", "__pycache__",
        ".mypy_cache", ".pytest_cache", ".ruff_cache", ".aqe", "site-packages", ".eggs",
    }
)  # fmt: skip


class SkipReason(str, enum.Enum):
    OUTSIDE_WORKSPACE = "outside-workspace"
    TOO_LARGE = "too-large"
    BINARY = "binary"
    NOT_UTF8 = "not-utf8"
    UNREADABLE = "unreadable"
    NOT_A_FILE = "not-a-file"
    UNSUPPORTED_LANGUAGE = "unsupported-language"


@dataclass(frozen=True)
class FileSkipped:
    path: str
    reason: SkipReason
    detail: str

    def describe(self) -> str:
        return f"aqe skipped {self.path}: {self.detail}"


class WorkspaceError(Exception):
    """A URI or path that the workspace refuses to read."""


def path_from_uri(uri: str) -> Path | None:
    """The file-system path of a `file:` URI, or None for other schemes (untitled:, git:, ...)."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    path = unquote(parsed.path)
    if parsed.netloc and parsed.netloc != "localhost":
        path = f"//{parsed.netloc}{path}"
    return Path(path)


def check_text_limits(path: str, data: bytes | str, max_bytes: int) -> FileSkipped | None:
    """Why content must not be analysed (too large or binary), or None when it is fine."""
    size = len(data.encode("utf-8", errors="surrogatepass")) if isinstance(data, str) else len(data)
    if size > max_bytes:
        return FileSkipped(
            path, SkipReason.TOO_LARGE, f"{size / 1e6:.1f} MB is over the {max_bytes / 1e6:g} MB size limit"
        )
    nul = "\x00" if isinstance(data, str) else b"\x00"
    if nul in data:  # type: ignore[operator]
        return FileSkipped(path, SkipReason.BINARY, "the file contains NUL bytes (binary data)")
    return None


class Workspace:
    """The workspace folders and the rules for reading inside them."""

    def __init__(self, roots: Sequence[Path], exclude: Sequence[str] = ()) -> None:
        self.roots = tuple(Path(os.path.realpath(r)) for r in roots)
        self._exclude = pathspec.GitIgnoreSpec.from_lines(exclude) if exclude else None

    def contains(self, path: Path) -> bool:
        """True when the real path (symlinks resolved) is inside a workspace folder."""
        real = Path(os.path.realpath(path))
        return any(real == root or root in real.parents for root in self.roots)

    def root_of(self, path: Path) -> Path | None:
        real = Path(os.path.realpath(path))
        matches = [root for root in self.roots if real == root or root in real.parents]
        return max(matches, key=lambda r: len(r.parts)) if matches else None

    def is_excluded(self, path: Path) -> bool:
        if self._exclude is None:
            return False
        root = self.root_of(path)
        if root is None:
            return False
        rel = Path(os.path.realpath(path)).relative_to(root).as_posix()
        return self._exclude.match_file(rel)

    def read_text(self, path: Path, max_bytes: int) -> str | FileSkipped:
        """Read a workspace file as UTF-8, or say why not. Never reads outside the folders."""
        shown = str(path)
        if not self.contains(path):
            return FileSkipped(shown, SkipReason.OUTSIDE_WORKSPACE, "the file is outside the workspace folders")
        real = Path(os.path.realpath(path))
        try:
            # Non-blocking, and checked on the open descriptor: a named pipe or a device called `x.py`
            # would otherwise block the read forever (or be swapped in between a check and the open).
            descriptor = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
            with os.fdopen(descriptor, "rb") as handle:
                status = os.fstat(handle.fileno())
                if not stat.S_ISREG(status.st_mode):
                    return FileSkipped(shown, SkipReason.NOT_A_FILE, "not a regular file (a pipe, socket or device)")
                if status.st_size > max_bytes:
                    return FileSkipped(
                        shown,
                        SkipReason.TOO_LARGE,
                        f"{status.st_size / 1e6:.1f} MB is over the {max_bytes / 1e6:g} MB size limit",
                    )
                data = handle.read(max_bytes + 1)
        except OSError as error:
            return FileSkipped(shown, SkipReason.UNREADABLE, f"cannot be read ({error.strerror or error})")
        limited = check_text_limits(shown, data, max_bytes)
        if limited is not None:
            return limited
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            return FileSkipped(shown, SkipReason.NOT_UTF8, f"not valid UTF-8 (byte {error.start})")

    def iter_source_files(self, paths: Iterable[Path] | None = None) -> Iterator[Path]:
        """Source files under `paths` (default: the roots), honouring .gitignore files and `exclude`.

        Explicitly named files are yielded even when ignored, as ruff and pytest do.
        """
        suffixes = supported_suffixes()
        seen: set[str] = set()  # `aqe analyze . a.py ./a.py` reads a.py once
        for start in paths if paths is not None else self.roots:
            start = Path(start)
            # A named pipe or device named explicitly is yielded too: reading it says why it is skipped.
            found = [start] if start.exists() and not start.is_dir() else self._walk(start, suffixes)
            for path in found:
                real = os.path.realpath(path)
                if real not in seen:
                    seen.add(real)
                    yield path

    def _walk(self, top: Path, suffixes: frozenset[str]) -> Iterator[Path]:
        # Each .gitignore applies to its own folder and below, as git reads them: from the repository's
        # top folder down, never above it (a .gitignore in a home folder or in an enclosing project the
        # folder was unpacked into is not this project's).
        specs: list[tuple[Path, pathspec.GitIgnoreSpec]] = []
        for parent in reversed(_repository_folders(top)):
            spec = _read_gitignore(parent)
            if spec is not None:
                specs.append((parent, spec))
        for dirpath, dirnames, filenames in os.walk(top):
            current = Path(dirpath)
            own = _read_gitignore(current) if current != top else None
            if own is not None:
                specs.append((current, own))
            active = [(base, spec) for base, spec in specs if base == current or base in current.parents]
            dirnames[:] = sorted(
                d
                for d in dirnames
                if d not in SKIPPED_DIRS
                and not d.endswith(".egg-info")
                and not _ignored(current / d, active, is_dir=True)
                and not self.is_excluded(current / d)
            )
            for name in sorted(filenames):
                candidate = current / name
                if candidate.suffix.lower() not in suffixes or not candidate.is_file():
                    continue  # is_file: a named pipe called x.py is not source code
                if _ignored(candidate, active, is_dir=False) or self.is_excluded(candidate):
                    continue
                yield candidate


def find_project_root(start: Path) -> Path:
    """The project `start` belongs to, found the way ruff and pytest find theirs: the nearest folder at
    or above it with a `pyproject.toml`, not climbing past the top of its repository (`.git`); `start`
    itself (a file's folder) when there is neither. So `aqe analyze src` run in a project uses the
    project's settings and reports paths from its top, as running it on the whole project would."""
    start = start.resolve()
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.parents):
        if (candidate / "pyproject.toml").is_file() or (candidate / ".git").exists():
            return candidate
    return folder


def _repository_folders(top: Path) -> list[Path]:
    """`top` and its parents up to the nearest one holding `.git`; just `top` outside a repository."""
    chain = [top, *top.parents]
    for depth, folder in enumerate(chain):
        if (folder / ".git").exists():
            return chain[: depth + 1]
    return [top]


def _read_gitignore(folder: Path) -> pathspec.GitIgnoreSpec | None:
    ignore_file = folder / ".gitignore"
    try:
        lines = ignore_file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _ignored(path: Path, specs: list[tuple[Path, pathspec.GitIgnoreSpec]], *, is_dir: bool) -> bool:
    for base, spec in specs:
        try:
            rel = path.relative_to(base).as_posix()
        except ValueError:
            continue
        if spec.match_file(rel + "/" if is_dir else rel):
            return True
    return False
