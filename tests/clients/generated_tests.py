"""Which tests an editor's "Generate test" added, to run exactly those (the sample workspace keeps a
failing test on purpose, for the quick-fix tests)."""

from __future__ import annotations

import re
from pathlib import Path

_TEST_DEF = re.compile(r"^def (test_\w+)\(", re.M)


def new_test_ids(before: dict[Path, str], after: dict[Path, str], root: Path) -> list[str]:
    """pytest node ids of the test functions in `after` that `before` did not have."""
    ids = []
    for path, text in after.items():
        old = set(_TEST_DEF.findall(before.get(path, "")))
        ids += [f"{path.relative_to(root).as_posix()}::{name}" for name in _TEST_DEF.findall(text) if name not in old]
    return ids
