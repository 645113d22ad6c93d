"""Which engine contains a sandboxed run on this machine, and bubblewrap's command line.

- "bwrap": bubblewrap (Debian's `bubblewrap`, the tool Flatpak relies on). It nests the user
  namespace so the read-only mounts are locked, drops every capability, maps the command to an
  unprivileged uid, forbids new user namespaces, makes a fresh /dev and /proc, unshares every
  namespace (pid, net, ipc, uts, cgroup), and its `--die-with-parent` ends the box with aqe. On
  distributions that restrict unprivileged user namespaces (Ubuntu 24.04's AppArmor rule) it ships
  the profile that lets it work, which no home-made `unshare` has.
- "namespaces": the fallback for machines without bubblewrap (aqe.sandbox.confine): the same
  guarantees built from the same steps by aqe's own code.
- "none": neither works (no user namespaces at all). Nothing is contained; project code runs only
  when the user has said they accept that (the user-scope setting `sandboxAllowUncontained`).
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from aqe.sandbox.layout import Mount

log = logging.getLogger(__name__)

SANDBOX_UID = 1000
"""The uid (and gid) the command runs as inside the box: never root, whoever started aqe."""

ENGINE_BWRAP = "bwrap"
ENGINE_NAMESPACES = "namespaces"
ENGINE_NONE = "none"

_BWRAP_CANDIDATES = ("/usr/bin/bwrap", "/usr/local/bin/bwrap")


@dataclass(frozen=True)
class IsolationSupport:
    """What this machine lets aqe build, checked once per process."""

    engine: str
    detail: str
    bwrap: str | None = None

    @property
    def contained(self) -> bool:
        return self.engine != ENGINE_NONE


def find_bwrap() -> str | None:
    found = shutil.which("bwrap")
    if found:
        return found
    return next((path for path in _BWRAP_CANDIDATES if os.access(path, os.X_OK)), None)


def _probe(command: Sequence[str]) -> str | None:
    """None when `command` ran and exited 0; else why not."""
    try:
        probe = subprocess.run(
            list(command),
            capture_output=True,
            timeout=15,
            env={"PATH": "/usr/bin:/bin"},
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    if probe.returncode == 0:
        return None
    lines = probe.stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"exit {probe.returncode}"


_best: IsolationSupport | None = None


def known_support() -> IsolationSupport | None:
    """What `isolation_support()` found, if it has run in this process (it starts processes: an
    editor's status asks this instead, and the server checks once in the background at start)."""
    return _best


def isolation_support(engine: str | None = None) -> IsolationSupport:
    """The best engine this machine can run (bwrap, then aqe's own namespaces), or the one asked for
    (tests run every attack against both)."""
    global _best
    if engine is not None:
        return _support_of(engine)
    _best = _best_support()
    return _best


def support_json(support: IsolationSupport) -> dict[str, object]:
    """How the audit report and the editor's status describe the sandbox."""
    return {"engine": support.engine, "contained": support.contained, "detail": support.detail}


def _best_support() -> IsolationSupport:
    bwrap = _support_of(ENGINE_BWRAP)
    if bwrap.engine == ENGINE_BWRAP:
        return bwrap
    fallback = _support_of(ENGINE_NAMESPACES)
    if fallback.engine == ENGINE_NAMESPACES:
        return IsolationSupport(ENGINE_NAMESPACES, f"{fallback.detail} ({bwrap.detail})")
    return IsolationSupport(ENGINE_NONE, f"nothing can contain project code here: {bwrap.detail}; {fallback.detail}")


@functools.cache
def _support_of(engine: str) -> IsolationSupport:
    from aqe.sandbox import confine
    from aqe.sandbox.layout import host_mounts

    check = [sys.executable, "-I", "-S", "-c", "pass"]
    if engine == ENGINE_BWRAP:
        bwrap = find_bwrap()
        if bwrap is None:
            return _logged(IsolationSupport(ENGINE_NONE, "bubblewrap (bwrap) is not installed"))
        arguments = bwrap_arguments(bwrap, host_mounts(), disk_bytes=1 << 20, allow_network=False)
        failure = _probe([*arguments, "--", *check])
        if failure is None:
            return _logged(IsolationSupport(ENGINE_BWRAP, f"bubblewrap ({bwrap})", bwrap))
        return _logged(IsolationSupport(ENGINE_NONE, f"bubblewrap could not build a box here ({failure})"))
    if engine == ENGINE_NAMESPACES:
        if shutil.which("unshare") is None:
            return _logged(IsolationSupport(ENGINE_NONE, "the `unshare` program (util-linux) is not installed"))
        failure = _probe([*confine.command(host_mounts(), disk_bytes=1 << 20, allow_network=False), *check])
        if failure is None:
            return _logged(IsolationSupport(ENGINE_NAMESPACES, "aqe's own namespaces"))
        return _logged(IsolationSupport(ENGINE_NONE, f"user namespaces are not available ({failure})"))
    return IsolationSupport(ENGINE_NONE, "no engine was asked for")


def _logged(support: IsolationSupport) -> IsolationSupport:
    log.log(logging.INFO if support.contained else logging.WARNING, "sandbox: %s", support.detail)
    return support


def bwrap_arguments(
    bwrap: str,
    mounts: Sequence[Mount],
    *,
    disk_bytes: int,
    allow_network: bool,
    seccomp_fd: int | None = None,
    passwd_fd: int | None = None,
    chdir: str | None = None,
) -> list[str]:
    """bubblewrap's options for one run (the command follows after `--`)."""
    args = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    args += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    args += ["--die-with-parent", "--new-session"]
    if allow_network:
        args.append("--share-net")
    # The only writable places, both size-limited: the box's folder under /tmp, and /dev/shm for
    # POSIX semaphores (multiprocessing). Everything they hold goes when the box ends. /tmp comes
    # first so that a host folder under it (a virtual environment in a temporary folder) still shows.
    args += ["--perms", "1777", "--size", str(disk_bytes), "--tmpfs", "/tmp"]
    for mount in mounts:
        if mount.kind == "symlink":
            args += ["--symlink", mount.source, mount.target]
        else:
            args += ["--ro-bind", mount.source, mount.target]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--size", str(min(disk_bytes, 64 * 1024**2)), "--tmpfs", "/dev/shm"]
    if passwd_fd is not None:
        args += ["--ro-bind-data", str(passwd_fd), "/etc/passwd"]
    args += ["--remount-ro", "/"]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    if chdir is not None:
        args += ["--chdir", chdir]
    return args
