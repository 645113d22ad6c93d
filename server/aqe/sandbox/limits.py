"""The exec wrapper that puts a sandboxed command in its box, then becomes that command.

    python -I -m aqe.sandbox.limits [options] -- COMMAND...

Limits are set here, in a fresh process that execs the command, and not with `preexec_fn`: code
between fork and exec in a threaded server can deadlock on a lock another thread held at the fork.

Two stages, because some steps must happen outside the new namespaces and some inside them:

1. outer: join the pids cgroup (a hard cap on processes, which RLIMIT_NPROC is not for root), then
   re-exec through `unshare --user --map-root-user [--net] [--mount]` into stage 2;
2. inner (or the only stage, without namespaces): bring up a private loopback, make every mount
   read-only except the sandbox's own folder, set the resource limits, exec the command.

Each stage writes one JSON line to `--status-fd` saying what it achieved, so the runner reports what
was really contained instead of what was asked for. This module imports only the standard library.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import json
import os
import resource
import shutil
import sys
from collections.abc import Sequence
from typing import Any

_MS_RDONLY = 1
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_NOEXEC = 8
_MS_REMOUNT = 32
_MS_NOATIME = 1024
_MS_NODIRATIME = 2048
_MS_BIND = 4096
_MS_REC = 16384
_MS_RELATIME = 1 << 21

# statvfs flags of a mount -> the mount(2) flags that must be passed again on a remount, or the
# kernel refuses it inside a user namespace (those flags are locked there).
_LOCKED_FLAGS = (
    (os.ST_NOSUID, _MS_NOSUID),
    (os.ST_NODEV, _MS_NODEV),
    (os.ST_NOEXEC, _MS_NOEXEC),
    (os.ST_NOATIME, _MS_NOATIME),
    (os.ST_NODIRATIME, _MS_NODIRATIME),
    (getattr(os, "ST_RELATIME", 4096), _MS_RELATIME),
)

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1

# Pseudo file systems a read-only root does not cover and that hold nothing of the user's.
_PSEUDO_MOUNTS = ("/proc", "/sys", "/dev/pts", "/dev/mqueue")

EXIT_WRAPPER_FAILED = 125
EXIT_NOT_FOUND = 127


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aqe.sandbox.limits", add_help=True)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--status-fd", type=int, default=-1)
    parser.add_argument("--cpu-seconds", type=int)
    parser.add_argument("--memory-bytes", type=int)
    parser.add_argument("--max-processes", type=int)
    parser.add_argument("--max-file-bytes", type=int)
    parser.add_argument("--max-open-files", type=int)
    parser.add_argument("--cgroup", help="a pids cgroup folder to join before anything else")
    parser.add_argument("--isolate-network", action="store_true")
    parser.add_argument("--read-only-root", action="store_true")
    parser.add_argument("--writable", action="append", default=[], help="a folder left writable")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    return parser


def _status(fd: int, **fields: Any) -> None:
    if fd < 0:
        return
    with contextlib.suppress(OSError):
        os.write(fd, (json.dumps(fields) + "\n").encode())


def _join_cgroup(folder: str) -> str:
    try:
        with open(os.path.join(folder, "cgroup.procs"), "w") as procs:
            procs.write(str(os.getpid()))
        return "joined"
    except OSError as error:
        return f"not joined: {error.strerror or error}"


def _bring_up_loopback() -> str:
    """A new network namespace has only `lo`, and it is down: tests that start a local server would
    fail for a reason that has nothing to do with them. Up, it reaches only this namespace."""
    import fcntl
    import socket
    import struct

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            request = struct.pack("16sH22x", b"lo", 0)
            flags = struct.unpack("16sH22x", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
            fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP))
        return "up"
    except OSError as error:
        return f"down: {error.strerror or error}"


def _libc() -> Any:
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _mount(libc: Any, source: str | None, target: str, flags: int) -> None:
    encoded_source = source.encode() if source is not None else None
    if libc.mount(encoded_source, target.encode(), None, flags, None) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {target}: {os.strerror(errno)}")


def _locked_flags(path: str) -> int:
    flags = os.statvfs(path).f_flag
    return sum(ms for st, ms in _LOCKED_FLAGS if flags & st)


def _read_only_root(writable: Sequence[str]) -> tuple[bool, list[str]]:
    """Bind the writable folders onto themselves, then remount every other mount read-only.

    Returns (root made read-only, mount points still writable): tmpfs mounts such as /dev/shm are
    remounted too where the kernel allows it, and named when it does not.
    """
    libc = _libc()
    for folder in writable:
        _mount(libc, folder, folder, _MS_BIND | _MS_REC)
    mounts = _mount_points()
    still_writable: list[str] = []
    root_done = False
    keep = tuple(os.path.realpath(folder) for folder in writable)
    for point in sorted(mounts, key=len):
        if point in keep or any(point.startswith(folder + "/") for folder in keep):
            continue
        if any(point == pseudo or point.startswith(pseudo + "/") for pseudo in _PSEUDO_MOUNTS):
            continue
        try:
            _mount(libc, None, point, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _locked_flags(point))
            root_done = root_done or point == "/"
        except OSError:
            if not _is_read_only(point):
                still_writable.append(point)
    return root_done, still_writable


def _mount_points() -> list[str]:
    points = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            if len(fields) > 4:
                points.append(fields[4].replace("\\040", " "))
    return points


def _is_read_only(path: str) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return True


def _set_limits(args: argparse.Namespace) -> dict[str, int]:
    applied: dict[str, int] = {}

    def limit(name: str, which: int, soft: int | None, hard: int | None = None) -> None:
        if soft is None:
            return
        resource.setrlimit(which, (soft, soft if hard is None else hard))
        applied[name] = soft

    # CPU: SIGXCPU at the soft limit, SIGKILL one second later at the hard one.
    cpu = args.cpu_seconds
    limit("cpuSeconds", resource.RLIMIT_CPU, cpu, None if cpu is None else cpu + 1)
    limit("memoryBytes", resource.RLIMIT_AS, args.memory_bytes)
    limit("maxProcesses", resource.RLIMIT_NPROC, args.max_processes)
    limit("maxFileBytes", resource.RLIMIT_FSIZE, args.max_file_bytes)
    limit("maxOpenFiles", resource.RLIMIT_NOFILE, args.max_open_files)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return applied


def _outer(args: argparse.Namespace, argv: Sequence[str]) -> int:
    cgroup = _join_cgroup(args.cgroup) if args.cgroup else "none"
    wants_namespaces = args.isolate_network or args.read_only_root
    unshare = shutil.which("unshare") if wants_namespaces else None
    _status(args.status_fd, stage="outer", cgroup=cgroup, unshare=bool(unshare))
    if unshare is None:
        return _inner(args)
    inner_argv = [a for a in _without_option(argv, "--cgroup")]
    flags = ["--user", "--map-root-user"]
    if args.isolate_network:
        flags.append("--net")
    if args.read_only_root:
        flags.append("--mount")
    command = [unshare, *flags, "--", sys.executable, "-I", "-m", "aqe.sandbox.limits", "--inner", *inner_argv]
    if args.status_fd >= 0:
        os.set_inheritable(args.status_fd, True)
    try:
        os.execv(unshare, command)
    except OSError as error:
        _status(args.status_fd, stage="outer", unshareFailed=str(error))
        return _inner(args)


def _without_option(argv: Sequence[str], option: str) -> list[str]:
    out: list[str] = []
    skip = False
    for index, item in enumerate(argv):
        if skip:
            skip = False
            continue
        if item == "--":
            out.extend(argv[index:])
            break
        if item == option:
            skip = True
            continue
        if item.startswith(option + "="):
            continue
        out.append(item)
    return out


def _inner(args: argparse.Namespace) -> int:
    report: dict[str, Any] = {"stage": "inner" if args.inner else "single"}
    if args.inner and args.isolate_network:
        report["loopback"] = _bring_up_loopback()
        report["network"] = "isolated"
    if args.inner and args.read_only_root:
        try:
            root_done, still_writable = _read_only_root(args.writable)
            # The working directory still points into the mount it was opened on (now read-only);
            # looking it up again goes through the writable bind mount.
            os.chdir(os.getcwd())
            report["readOnlyRoot"] = root_done
            report["stillWritable"] = still_writable
        except OSError as error:
            report["readOnlyRoot"] = False
            report["readOnlyError"] = str(error)
    try:
        report["limits"] = _set_limits(args)
    except (ValueError, OSError) as error:
        report["limitsError"] = str(error)
        _status(args.status_fd, **report)
        print(f"aqe sandbox: could not set resource limits: {error}", file=sys.stderr)
        return EXIT_WRAPPER_FAILED
    _status(args.status_fd, **report)
    if args.status_fd >= 0:
        os.close(args.status_fd)  # the runner reads the status until every copy of this end is closed
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        print("aqe sandbox: no command given", file=sys.stderr)
        return EXIT_WRAPPER_FAILED
    try:
        os.execvp(command[0], command)
    except OSError as error:
        print(f"aqe sandbox: cannot run {command[0]!r}: {error.strerror or error}", file=sys.stderr)
        return EXIT_NOT_FOUND
    return EXIT_WRAPPER_FAILED  # not reached: exec replaced this process


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.inner:
        return _inner(args)
    return _outer(args, argv)


if __name__ == "__main__":
    sys.exit(main())
