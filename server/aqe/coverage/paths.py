"""Where a measured file is in this workspace.

Coverage data names files as they were when measured: absolute paths of another checkout (a CI
runner, a sandbox copy), or paths relative to wherever the tool ran. A path is taken as it is when it
exists inside the workspace, else by its longest trailing part that does (`/ci/build/src/app/x.py`
-> `<root>/src/app/x.py`). Files that exist nowhere are gone: their data is ignored.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePath


class PathResolver:
    def __init__(self, roots: Sequence[Path], bases: Sequence[Path] = ()) -> None:
        self.roots = tuple(Path(os.path.realpath(root)) for root in roots)
        self.bases = tuple(Path(base) for base in bases) or self.roots
        self._cache: dict[str, Path | None] = {}

    def resolve(self, measured: str) -> Path | None:
        if measured not in self._cache:
            self._cache[measured] = self._resolve(measured)
        return self._cache[measured]

    def _inside(self, path: Path) -> bool:
        return any(path == root or root in path.parents for root in self.roots)

    def _resolve(self, measured: str) -> Path | None:
        raw = PurePath(measured.replace("\\", "/")) if "\\" in measured and "/" not in measured else PurePath(measured)
        candidates = [Path(raw)] if raw.is_absolute() else [base / raw for base in self.bases]
        for candidate in candidates:
            real = Path(os.path.realpath(candidate))
            if self._inside(real) and real.is_file():
                return real
        parts = [part for part in raw.parts if part not in ("/", "\\") and not part.endswith(":\\")]
        for start in range(len(parts)):
            tail = Path(*parts[start:])
            for root in self.roots:
                real = Path(os.path.realpath(root / tail))
                if self._inside(real) and real.is_file():
                    return real
        return None
