"""What the sandbox's file system holds: the few host folders a Python test run needs, read-only.

An allowlist, not a denylist: the box starts empty and gets the system's programs and libraries
(/usr and the merged-/usr links), the handful of /etc files that programs read to start, the Python
installations that run the command (aqe's own and the project's virtual environment with its base
interpreter), and aqe's stand-alone sandbox files (the supervisor, the pytest plugins). Nothing else
of the host's: no home folder, /root, /tmp, /var, /run (where the host's Unix sockets live), /sys,
/mnt, the real project, or another project.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SANDBOX_PACKAGE = Path(__file__).parent
"""The supervisor (stage.py) and the pytest plugins: standard library only, safe to show the box."""

_SYSTEM_FOLDERS = ("/usr",)
_MERGED_USR_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Read by the dynamic loader, libc, Python's own start-up, and TLS libraries; nothing secret.
_ETC_FILES = (
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/nsswitch.conf",
    "/etc/host.conf", "/etc/hosts", "/etc/alternatives", "/etc/ssl/certs", "/etc/ca-certificates",
    "/etc/mime.types", "/etc/os-release", "/etc/protocols", "/etc/services",
)  # fmt: skip
# Folders that must never be shown to the box whole, whatever a virtual environment's config says.
_NEVER_WHOLE = ("/", "/root", "/home", "/etc", "/tmp", "/var", "/run", "/proc", "/sys", "/dev", "/mnt", "/media")


@dataclass(frozen=True)
class Mount:
    kind: str
    """"ro-bind" (a host path shown read-only) or "symlink" (source is the link's target)."""
    source: str
    target: str


def host_mounts(pythons: Sequence[str] = ()) -> tuple[Mount, ...]:
    """The read-only view of the host that a run of `pythons` (interpreter paths) needs."""
    mounts: list[Mount] = []
    for folder in _SYSTEM_FOLDERS:
        if os.path.isdir(folder):
            mounts.append(Mount("ro-bind", folder, folder))
    for link in _MERGED_USR_LINKS:
        if os.path.islink(link):
            mounts.append(Mount("symlink", os.readlink(link), link))
        elif os.path.isdir(link):
            mounts.append(Mount("ro-bind", link, link))
    for path in _ETC_FILES:
        if os.path.exists(path):
            mounts.append(Mount("ro-bind", path, path))
    folders = python_folders([sys.executable, *pythons])
    folders.append(str(SANDBOX_PACKAGE))
    for folder in _outermost(folders):
        if not any(folder == system or folder.startswith(system + "/") for system in _SYSTEM_FOLDERS):
            mounts.append(Mount("ro-bind", folder, folder))
    return tuple(mounts)


def python_folders(pythons: Iterable[str]) -> list[str]:
    """The installation folders behind each interpreter: its virtual environment (if it is in one)
    and the base installation that environment points to."""
    folders: list[str] = []
    if sys.prefix != sys.base_prefix:
        folders.append(sys.prefix)
    folders += [sys.base_prefix, sys.base_exec_prefix]
    for python in pythons:
        folders += _interpreter_folders(Path(python))
    return [folder for folder in dict.fromkeys(os.path.realpath(f) for f in folders) if _safe_to_show(folder)]


def _interpreter_folders(python: Path) -> list[str]:
    """Read without running the interpreter: a project's virtual environment is the project's own
    (a hostile repository's `.venv/bin/python` must not run outside the box, even to ask it)."""
    found: list[str] = []
    venv = python.parent.parent
    config = venv / "pyvenv.cfg"
    if config.is_file():
        found.append(str(venv))
        home = _pyvenv_home(config)
        if home is not None:
            base = Path(home).parent
            if _looks_like_python_installation(base):
                found.append(str(base))
    resolved = Path(os.path.realpath(python))
    base = resolved.parent.parent
    if _looks_like_python_installation(base):
        found.append(str(base))
    return found


def _pyvenv_home(config: Path) -> str | None:
    try:
        text = config.read_text(encoding="utf-8", errors="replace")[:4096]
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home" and value.strip():
            return value.strip()
    return None


def _looks_like_python_installation(folder: Path) -> bool:
    """A folder a venv's `home` may send us to must be a Python installation (lib/pythonX.Y/os.py),
    so a repository's pyvenv.cfg cannot make the box show, say, the user's home folder."""
    try:
        return any((lib / "os.py").is_file() for lib in (folder / "lib").glob("python3*"))
    except OSError:
        return False


def _safe_to_show(folder: str) -> bool:
    if folder in _NEVER_WHOLE:
        return False
    home = os.path.realpath(os.path.expanduser("~"))
    return folder != home


def _outermost(folders: Iterable[str]) -> list[str]:
    """Drop folders already inside another one in the list (one bind mount covers them)."""
    unique = sorted(dict.fromkeys(folders), key=len)
    kept: list[str] = []
    for folder in unique:
        if not any(folder == outer or folder.startswith(outer.rstrip("/") + "/") for outer in kept):
            kept.append(folder)
    return kept
