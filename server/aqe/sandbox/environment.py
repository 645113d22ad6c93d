"""The environment and process cap a sandboxed command starts with: nothing of the server's."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "COOKIE", "SESSION")


def clean_environment(home: str, tmp: str, extra: Sequence[tuple[str, str]], python: str) -> dict[str, str]:
    """Only what a test run needs; nothing inherited, so no credential of the user's can leak in."""
    path = os.pathsep.join(dict.fromkeys([str(Path(python).parent), "/usr/local/bin", "/usr/bin", "/bin"]))
    env = {
        "PATH": path,
        "HOME": home,
        "TMPDIR": tmp,
        "USER": "sandbox",
        "LOGNAME": "sandbox",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "NO_COLOR": "1",
        "CI": "true",
    }
    for name, value in extra:
        if any(word in name.upper() for word in _SECRET_WORDS):
            log.warning("sandbox: not passing %s to the command (it looks like a credential)", name)
            continue
        env[name] = value
    return env


def nproc_limit(max_processes: int) -> int:
    """RLIMIT_NPROC counts every process of the user, not only the sandbox's (a desktop session has
    hundreds), so the limit is set above what the user already runs; the runner's own count of the
    sandbox's processes enforces `max_processes` itself. (Root is exempt from it: the cgroup caps.)"""
    if os.geteuid() == 0:
        return max_processes
    uid = os.getuid()
    existing = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                existing += os.stat(f"/proc/{name}").st_uid == uid
            except OSError:
                continue
    return max_processes + existing
