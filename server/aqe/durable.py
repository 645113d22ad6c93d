"""Files that survive a crash at any instant: write a temp file, fsync it, rename it over the target,
fsync the directory. A reader sees the old file or the new one, never a torn mixture.

Shared by every on-disk format aqe writes (the index generations and their manifest, exported state).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

_HASH_CHUNK = 1 << 20

STATE_FOLDER_GITIGNORE = "# Created by aqe automatically.\n*\n"
"""Like pytest's and ruff's caches: git ignores the folder (and this file) without anyone's help."""


def fsync_directory(folder: Path) -> None:
    """Make a rename or unlink in `folder` durable (a no-op where directories cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def atomic_write_bytes(target: Path, data: bytes, *, shared: bool = False) -> None:
    atomic_write_with(target, lambda path: path.write_bytes(data), shared=shared)


def atomic_write_with(target: Path, write: Callable[[Path], object], *, shared: bool = False) -> None:
    """Let `write` fill a temp file (e.g. a native library's save_index), then commit it over `target`.
    The temp name is unique, so two writers of one target (threads or processes) never share it.
    The file is private to its owner (mkstemp's 0600) unless `shared`: then it keeps the permissions
    of the file it replaces, or gets those a plain open() would give a new one (a report CI reads, a
    test file in the project).

    Only regular files get the rename: a device, FIFO or terminal (`-o /dev/null`, `/dev/stdout`) is
    written to directly, and a symlink's target is replaced, never the link itself. (Renaming over
    /dev/null as root replaces the device with a file and breaks every later process on the machine.)"""
    try:
        info = os.stat(target)
    except OSError:
        info = None
    if info is not None and not stat.S_ISREG(info.st_mode):
        _write_through(target, write)
        return
    if info is not None and os.path.islink(target):
        target = Path(os.path.realpath(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(descriptor)
    temp = Path(name)
    try:
        if shared:
            try:
                mode = stat.S_IMODE(target.stat().st_mode)
            except OSError:
                mode = 0o666 & ~_umask()
            os.chmod(temp, mode)
        write(temp)
        with temp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_directory(target.parent)


def _write_through(target: Path, write: Callable[[Path], object]) -> None:
    """Write into an existing special file: fill a private temp file, then copy it in. A FIFO that
    nobody reads fails at once (ENXIO) instead of waiting for ever."""
    with tempfile.TemporaryDirectory(prefix="aqe-write-") as folder:
        temp = Path(folder) / "data"
        write(temp)
        descriptor = os.open(target, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        try:
            os.set_blocking(descriptor, True)
            with temp.open("rb") as source:
                while chunk := source.read(1 << 16):
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(descriptor, view) :]
        finally:
            os.close(descriptor)


def make_state_folder(folder: Path) -> None:
    """Create aqe's folder in a project (`.aqe/`) with a `.gitignore` of `*` inside, so nobody commits
    it by accident. An existing `.gitignore` is left as its owner edited it; one that cannot be
    written (a read-only checkout) does not stop aqe."""
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if ignore.exists():
        return
    try:
        with ignore.open("x", encoding="utf-8") as handle:  # exclusive: two writers never interleave
            handle.write(STATE_FOLDER_GITIGNORE)
    except OSError:
        pass


def append_line(path: Path, line: bytes, mode: int = 0o644) -> None:
    """Append one line with a single write on an O_APPEND descriptor under an advisory lock, then
    fsync: a kill loses at most this line, concurrent writers (threads or processes) never interleave,
    and a line torn by an earlier crash is closed with a newline first so this one starts clean."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, mode)  # read too: the torn-line check
    try:
        _lock_exclusively(descriptor)  # another process's check-then-write must not interleave with ours
        size = os.fstat(descriptor).st_size
        if size > 0 and os.pread(descriptor, 1, size - 1) != b"\n":
            line = b"\n" + line
        os.write(descriptor, line)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _lock_exclusively(descriptor: int) -> None:
    """An advisory lock for one append, released when the descriptor closes (POSIX only: elsewhere
    appends stay whole lines, but a torn line's repair could race)."""
    try:
        import fcntl
    except ImportError:
        return
    fcntl.flock(descriptor, fcntl.LOCK_EX)


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def remove_stale_temp_files(folder: Path) -> Iterator[Path]:
    """Delete the temp files a killed writer left behind; yields what was removed."""
    try:
        candidates = list(folder.glob(".*.tmp"))
    except OSError:
        return
    for candidate in candidates:
        with contextlib.suppress(OSError):
            candidate.unlink()
            yield candidate


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
