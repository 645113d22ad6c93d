"""The fallback engine: bubblewrap's guarantees built by aqe where bubblewrap is not installed.

    unshare --user --map-root-user --mount --pid --fork --ipc --uts [--net] --propagation private -- \
        python -I -S confine.py --layout JSON --disk-bytes N [--seccomp-fd N] [--isolate-network] -- STAGE...

Inside the new namespaces (as root of a user namespace of its own, which is worth nothing outside):
1. a tmpfs becomes the new root; the layout's host paths are bind-mounted into it and made read-only
   (each submount too), /proc is a fresh one with /proc/sys and friends read-only, /dev holds only
   null, zero, full, random, urandom and tty, and /tmp is a size-limited tmpfs, the only writable place;
2. pivot_root into it and detach the old root, so nothing of the host is reachable by path (Unix
   sockets included: a network namespace does not cover them);
3. allow at most this one more user namespace, then enter it mapped to an unprivileged uid: the
   mount namespace stays owned by the outer user namespace, where the command has no capability,
   so no mount can be changed (a remount of / fails);
4. drop every capability from the bounding set, set no_new_privs, load the system-call filter;
5. exec the supervisor (aqe.sandbox.stage).

Standard library only, and no import of aqe: it runs before every sandboxed command in the fallback.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import shutil
import stat
import sys
from collections.abc import Sequence
from typing import Any

SANDBOX_UID = 1000
EXIT_CONFINE_FAILED = 125

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18
_MNT_DETACH = 2
_CLONE_NEWUSER = 0x10000000
_PR_SET_NO_NEW_PRIVS, _PR_CAPBSET_DROP, _PR_SET_SECCOMP = 38, 24, 22
_SECCOMP_MODE_FILTER = 2
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
_PROC_READ_ONLY = ("sys", "sysrq-trigger", "irq", "bus", "fs")
# statvfs flags -> mount flags a remount must repeat inside a user namespace (they are locked there).
_LOCKED = ((os.ST_NOSUID, _MS_NOSUID), (os.ST_NODEV, _MS_NODEV), (os.ST_NOEXEC, _MS_NOEXEC))


def command(mounts: Sequence[Any], *, disk_bytes: int, allow_network: bool, seccomp_fd: int | None = None) -> list[str]:
    """The prefix that runs the supervisor's command line (which follows it) in the fallback box."""
    unshare = shutil.which("unshare") or "/usr/bin/unshare"
    flags = ["--user", "--map-root-user", "--mount", "--pid", "--fork", "--kill-child", "--ipc", "--uts"]
    flags += ["--propagation", "private"]
    if not allow_network:
        flags.append("--net")
    layout = json.dumps([[mount.kind, mount.source, mount.target] for mount in mounts])
    inner = [sys.executable, "-I", "-S", __file__, "--layout", layout, "--disk-bytes", str(disk_bytes)]
    if seccomp_fd is not None:
        inner += ["--seccomp-fd", str(seccomp_fd)]
    if not allow_network:
        inner.append("--isolate-network")
    return [unshare, *flags, "--", *inner, "--"]


def probe_command() -> list[str]:
    unshare = shutil.which("unshare") or "/usr/bin/unshare"
    return [unshare, "--user", "--map-root-user", "--mount", "--pid", "--fork", "--ipc", "--uts", "--net", "--", "true"]


class _Libc:
    def __init__(self) -> None:
        self.lib = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)

    def check(self, result: int, what: str) -> None:
        if result != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"{what}: {os.strerror(errno)}")

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
        encode = lambda text: text.encode() if text is not None else None  # noqa: E731
        self.check(
            self.lib.mount(encode(source), target.encode(), encode(fstype), flags, encode(data)), f"mount {target}"
        )


def _bind_read_only(libc: _Libc, source: str, target: str, fd: int) -> None:
    if stat.S_ISDIR(os.fstat(fd).st_mode):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "a"):
            pass
    libc.mount(f"/proc/self/fd/{fd}", target, None, _MS_BIND | _MS_REC)
    for point in _mounts_under(target):
        flags = _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV
        try:
            vfs = os.statvfs(point).f_flag
        except OSError:
            continue
        flags |= sum(ms for st, ms in _LOCKED if vfs & st)
        libc.mount(None, point, None, flags)


def _mounts_under(target: str) -> list[str]:
    points = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            point = line.split()[4].replace("\\040", " ")
            if point == target or point.startswith(target.rstrip("/") + "/"):
                points.append(point)
    return sorted(set(points), key=len)


def _build_root(libc: _Libc, layout: Sequence[Sequence[str]], disk_bytes: int) -> str:
    # Every source is opened (O_PATH) before anything is mounted over the host's /tmp, where the new
    # root is assembled: a source under /tmp (a virtual environment there) stays reachable by its fd.
    sources = {source: os.open(source, os.O_PATH) for kind, source, _ in layout if kind != "symlink"}
    base = "/tmp"  # a private tmpfs over the host's /tmp, in this mount namespace only
    libc.mount("tmpfs", base, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=16m,mode=0755")
    root = os.path.join(base, "root")
    os.mkdir(root)
    libc.mount("tmpfs", root, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=16m,mode=0755")
    # /tmp first, so that a host folder under it (a virtual environment in a temporary folder) shows.
    os.makedirs(root + "/tmp", exist_ok=True)
    libc.mount("tmpfs", root + "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={disk_bytes},mode=1777")
    for kind, source, target in layout:
        inside = root + target
        if kind == "symlink":
            os.makedirs(os.path.dirname(inside), exist_ok=True)
            os.symlink(source, inside)
        else:
            _bind_read_only(libc, source, inside, sources[source])
    for fd in sources.values():
        os.close(fd)
    os.makedirs(root + "/proc")
    libc.mount("proc", root + "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    _limit_user_namespaces(root + "/proc")
    for name in _PROC_READ_ONLY:
        path = f"{root}/proc/{name}"
        if os.path.exists(path):
            libc.mount(path, path, None, _MS_BIND | _MS_REC)
            libc.mount(None, path, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    dev = root + "/dev"
    os.makedirs(dev)
    libc.mount("tmpfs", dev, "tmpfs", _MS_NOSUID, "size=64k,mode=0755")
    for name in _DEVICES:
        if os.path.exists(f"/dev/{name}"):
            with open(f"{dev}/{name}", "a"):
                pass
            libc.mount(f"/dev/{name}", f"{dev}/{name}", None, _MS_BIND)
    os.mkdir(dev + "/shm")
    shm = min(disk_bytes, 64 * 1024**2)
    libc.mount("tmpfs", dev + "/shm", "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={shm},mode=1777")
    for link, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):  # fmt: skip
        os.symlink(target, f"{dev}/{link}")
    os.makedirs(root + "/etc", exist_ok=True)
    with open(root + "/etc/passwd", "w") as passwd:
        passwd.write(f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:aqe sandbox:/tmp:/bin/sh\n")
    return root


def _limit_user_namespaces(proc: str) -> None:
    """At most one more user namespace below this one: the one entered in step 3."""
    with open(f"{proc}/sys/user/max_user_namespaces", "w") as limit:
        limit.write("1")


def _pivot(libc: _Libc, root: str) -> None:
    number = _SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is None:
        raise OSError(0, f"pivot_root: unknown system call number on {os.uname().machine}")
    os.chdir(root)
    libc.check(libc.lib.syscall(number, b".", b"."), "pivot_root")
    libc.check(libc.lib.umount2(b".", _MNT_DETACH), "detach the old root")
    os.chdir("/")
    libc.mount(None, "/", None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)


def _enter_unprivileged_namespace(libc: _Libc) -> None:
    uid, gid = os.geteuid(), os.getegid()
    libc.check(libc.lib.unshare(_CLONE_NEWUSER), "a nested user namespace")
    for name, text in (
        ("setgroups", "deny"),
        ("uid_map", f"{SANDBOX_UID} {uid} 1"),
        ("gid_map", f"{SANDBOX_UID} {gid} 1"),
    ):
        with open(f"/proc/self/{name}", "w") as handle:
            handle.write(text)
    os.setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
    os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)


def _drop_privileges(libc: _Libc) -> None:
    last_cap = 40
    try:
        with open("/proc/sys/kernel/cap_last_cap") as handle:
            last_cap = int(handle.read())
    except (OSError, ValueError):
        pass
    for cap in range(last_cap + 1):
        libc.lib.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)  # EPERM once caps are gone: harmless
    libc.check(libc.lib.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def _load_seccomp(libc: _Libc, fd: int) -> None:
    """Load a BPF program (libseccomp's export, made by the runner) with prctl: no libseccomp here."""
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    program = b"".join(chunks)
    if not program or len(program) % 8:
        raise OSError(0, "the system-call filter is empty or damaged")
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    libc.check(libc.lib.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")


def _bring_up_loopback() -> None:
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aqe-sandbox-confine")
    parser.add_argument("--layout", required=True)
    parser.add_argument("--disk-bytes", type=int, required=True)
    parser.add_argument("--seccomp-fd", type=int, default=-1)
    parser.add_argument("--isolate-network", action="store_true")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    libc = _Libc()
    try:
        if args.isolate_network:
            _bring_up_loopback()
        libc.mount(None, "/", None, _MS_REC | _MS_PRIVATE)
        root = _build_root(libc, json.loads(args.layout), args.disk_bytes)
        _pivot(libc, root)
        _enter_unprivileged_namespace(libc)
        _drop_privileges(libc)
        if args.seccomp_fd >= 0:
            _load_seccomp(libc, args.seccomp_fd)
    except OSError as error:
        print(f"aqe sandbox: could not build the box: {error}", file=sys.stderr)
        return EXIT_CONFINE_FAILED
    try:
        os.chdir("/tmp")
        os.execv(command[0], command)
    except (OSError, IndexError) as error:
        print(f"aqe sandbox: cannot start the supervisor: {error}", file=sys.stderr)
        return EXIT_CONFINE_FAILED
    return EXIT_CONFINE_FAILED  # not reached


if __name__ == "__main__":
    sys.exit(main())
