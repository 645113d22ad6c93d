"""A per-file memo that is invalidated when the file changes on disk.

The server reviews on every keystroke and some rules read other files (conftest.py, helper modules):
each is read and analysed once per version, recognised by its modification time and size.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


class StatCache(Generic[T]):
    """`get(path)` returns `compute(text)` for the file's current content, or `missing` if unreadable."""

    def __init__(self, compute: Callable[[Path, str], T], missing: T) -> None:
        self._compute = compute
        self._missing = missing
        self._lock = threading.Lock()
        self._entries: dict[Path, tuple[int, int, T]] = {}

    def get(self, path: Path) -> T:
        try:
            stat = path.stat()
        except OSError:
            return self._missing
        with self._lock:
            cached = self._entries.get(path)
        if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
            return cached[2]
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        value = self._compute(path, text)
        with self._lock:
            self._entries[path] = (stat.st_mtime_ns, stat.st_size, value)
        return value
