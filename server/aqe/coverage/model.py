"""Coverage as aqe holds it, whatever tool measured it: per file, which lines and branches ran.

Line numbers here are 1-based, as every coverage format writes them; the hints convert to the
0-based positions of `aqe.findings` at the edge.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BranchCount:
    taken: int
    total: int


@dataclass(frozen=True)
class FileCoverage:
    path: str
    """The file in the workspace (resolved, absolute)."""
    executed: frozenset[int]
    missing: frozenset[int]
    branches: Mapping[int, BranchCount] = field(default_factory=dict, hash=False)
    """Lines with more than one way out, and how many of those ways ran."""
    line_hashes: tuple[str, ...] | None = None
    """The file's lines (hashed) when it was measured, if known: lets hints follow edits."""
    measured_at: float | None = None
    """When the data was written (seconds since the epoch)."""
    source: str = ""
    """The coverage file it came from, for messages."""

    @property
    def statements(self) -> int:
        return len(self.executed | self.missing)

    def partial_branches(self) -> dict[int, BranchCount]:
        return {line: count for line, count in self.branches.items() if count.taken < count.total}


@dataclass(frozen=True)
class CoverageReadResult:
    """What one coverage file held: the files it covers and every problem met while reading it."""

    source: str
    files: tuple[FileCoverage, ...]
    problems: tuple[str, ...] = ()
    ignored_missing: int = 0
    """Measured files that no longer exist (or lie outside the workspace): left out, not an error."""


class CoverageFormatError(ValueError):
    """A file that is not coverage data this reader understands."""


def hash_line(line: str) -> str:
    """Trailing whitespace and line endings do not count: re-saving with CRLF is not a change."""
    return hashlib.blake2b(line.rstrip().encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def hash_lines(text: str) -> tuple[str, ...]:
    return tuple(hash_line(line) for line in text.splitlines())
