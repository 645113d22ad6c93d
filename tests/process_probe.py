"""Whether any process a test started is still alive, found by a token unique to that test (so other
test sessions or CI jobs on the machine never count)."""

from __future__ import annotations

import os
from pathlib import Path


def alive_with(token: str) -> list[int]:
    """Live processes whose command line carries `token`."""
    alive = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
            state = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if token.encode() in cmdline and state not in ("Z", "X"):
            alive.append(int(name))
    return alive
