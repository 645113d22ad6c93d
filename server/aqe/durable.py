"""Files that survive a crash at any instant: write a temp file, fsync it, rename it over the target,
fsync the directory. A reader sees the old file or the new one, never a torn mixture.

Shared by every on-disk format aqe writes (the index generations and their manifest, exported state).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

_HASH_CHUNK = 1 << 20


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


def temp_path_for(target: Path) -> Path:
    """A sibling name that never collides with another process writing the same target."""
    return target.with_name(f".{target.name}.{os.getpid()}.tmp")


def atomic_write_bytes(target: Path, data: bytes) -> None:
    atomic_write_with(target, lambda path: path.write_bytes(data))


def atomic_write_with(target: Path, write: Callable[[Path], object]) -> None:
    """Let `write` fill a temp file (e.g. a native library's save_index), then commit it over `target`."""
    temp = temp_path_for(target)
    try:
        write(temp)
        with temp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_directory(target.parent)


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
