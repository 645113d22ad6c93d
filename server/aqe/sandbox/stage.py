"""The supervisor that runs inside the sandbox: unpack the project, run the command, send results back.

    python -I -S stage.py --status-fd N --input-fd N --output-fd N --work DIR [limits] -- COMMAND...

It is the first process in the box (bubblewrap's, or the fallback engine's after it set up the
namespaces), and the box ends when it exits: the pid namespace takes every process the command
left behind with it. It runs as the box's unprivileged user, with the standard library only,
because it starts before every sandboxed command and must not import the project or aqe.

Why the project arrives as a tar stream on `--input-fd` and the collected files leave as one on
`--output-fd`: the box's writable space is a size-limited tmpfs that exists only inside it, so a
command that fills the disk fills its own quota, and nothing of the host's is ever writable. The
output descriptor is closed in the command's process before exec, so only this supervisor writes it.

Each step writes one JSON line to `--status-fd`, so the runner reports what was achieved, not what
was asked for: the limits set, the command's exit, how many processes it left, and whether any mount
outside the box's own folder was writable at the end (a remount would show there).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import stat
import sys
import tarfile
from collections.abc import Sequence
from typing import Any

EXIT_STAGE_FAILED = 125
EXIT_NOT_FOUND = 127

# Mount points a command may write to without that being an escape: its own tmpfs and the kernel's
# pseudo file systems (whose writable files are namespaced or refused to an unprivileged user).
_EXPECTED_WRITABLE_TYPES = ("proc", "devpts", "mqueue")
_DEVICE_FILES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aqe-sandbox-stage")
    parser.add_argument("--status-fd", type=int, default=-1)
    parser.add_argument("--input-fd", type=int, default=-1)
    parser.add_argument("--output-fd", type=int, default=-1)
    parser.add_argument("--work", required=True)
    parser.add_argument("--writable", action="append", default=[], help="a folder the command may write to")
    parser.add_argument("--collect", action="append", default=[])
    parser.add_argument("--max-artifact-bytes", type=int, default=64 * 1024**2)
    parser.add_argument("--cpu-seconds", type=int)
    parser.add_argument("--memory-bytes", type=int)
    parser.add_argument("--max-processes", type=int)
    parser.add_argument("--max-file-bytes", type=int)
    parser.add_argument("--max-open-files", type=int)
    parser.add_argument("--check-mounts", action="store_true", help="report writable mounts outside the box")
    parser.add_argument("--box-tmpfs", default="/tmp", help="the box's own size-limited tmpfs (writable by design)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    return parser


def _status(fd: int, **fields: Any) -> None:
    if fd < 0:
        return
    with contextlib.suppress(OSError):
        os.write(fd, (json.dumps(fields) + "\n").encode())


def _unpack(fd: int, work: str) -> int:
    """Extract the runner's tar stream into the work folder; returns the number of members."""
    os.makedirs(work, exist_ok=True)
    count = 0
    with os.fdopen(fd, "rb") as stream, tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            # The runner made this archive from the project (regular files, folders and symlinks only).
            if not (member.isfile() or member.isdir() or member.issym()):
                continue
            if hasattr(tarfile, "tar_filter"):
                archive.extract(member, work, filter="fully_trusted")
            else:  # Python < 3.10.12 has no extraction filters
                archive.extract(member, work)
            count += 1
    return count


def _limits(args: argparse.Namespace) -> dict[str, int]:
    applied: dict[str, int] = {}

    def limit(name: str, which: int, soft: int | None, hard: int | None = None) -> None:
        if soft is None:
            return
        resource.setrlimit(which, (soft, soft if hard is None else hard))
        applied[name] = soft

    cpu = args.cpu_seconds  # SIGXCPU at the soft limit, SIGKILL one second later
    limit("cpuSeconds", resource.RLIMIT_CPU, cpu, None if cpu is None else cpu + 1)
    limit("memoryBytes", resource.RLIMIT_AS, args.memory_bytes)
    limit("maxProcesses", resource.RLIMIT_NPROC, args.max_processes)
    limit("maxFileBytes", resource.RLIMIT_FSIZE, args.max_file_bytes)
    limit("maxOpenFiles", resource.RLIMIT_NOFILE, args.max_open_files)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return applied


def _run(args: argparse.Namespace, command: Sequence[str]) -> tuple[int, int]:
    """Fork and exec the command with the limits; returns (exit code, signal) of the command."""
    read_error, write_error = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: single-threaded parent, so anything is safe between fork and exec
        try:
            os.close(read_error)
            for fd in (args.status_fd, args.output_fd):
                if fd >= 0:
                    os.close(fd)
            os.set_inheritable(write_error, False)
            os.chdir(args.work)
            _limits(args)
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            os.execvp(command[0], list(command))
        except OSError as error:
            message = f"aqe sandbox: cannot run {command[0]!r}: {error.strerror or error}\n"
            with contextlib.suppress(OSError):
                os.write(2, message.encode())
            os._exit(EXIT_NOT_FOUND)
        except BaseException as error:
            with contextlib.suppress(OSError):
                os.write(2, f"aqe sandbox: could not start the command: {error}\n".encode())
            os._exit(EXIT_STAGE_FAILED)
    os.close(write_error)
    os.close(read_error)
    # Nothing the command does (a signal to its own group, a SIGTERM from the runner for the command)
    # should stop the supervisor before it has reported.
    signal.signal(signal.SIGTERM, lambda *_: _forward(pid, signal.SIGTERM))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            return EXIT_STAGE_FAILED, 0
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        return -1, os.WTERMSIG(status)
    return os.WEXITSTATUS(status), 0


def _forward(pid: int, sig: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, sig)


def _leftovers() -> int:
    """Processes still alive in this pid namespace besides its init and this supervisor."""
    me = os.getpid()
    count = 0
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in (1, me):
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                state = stat.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in (b"Z", b"X"):
            count += 1
    return count


def _writable_mounts(writable: Sequence[str]) -> list[str]:
    """Mount points outside the box's own folders that are writable now (after the command ran)."""
    found = []
    keep = tuple(os.path.realpath(folder) for folder in writable)
    try:
        with open("/proc/self/mountinfo") as mountinfo:
            lines = mountinfo.read().splitlines()
    except OSError:
        return ["/proc/self/mountinfo unreadable"]
    for line in lines:
        fields = line.split()
        if len(fields) < 10 or "-" not in fields:
            continue
        point = fields[4].replace("\\040", " ")
        options = fields[5].split(",")
        fs_type = fields[fields.index("-") + 1]
        if "ro" in options or fs_type in _EXPECTED_WRITABLE_TYPES or point in _DEVICE_FILES:
            continue
        if any(point == folder or point.startswith(folder + "/") for folder in keep):
            continue
        if point in ("/dev", "/dev/shm") and fs_type == "tmpfs":
            continue
        found.append(point)
    return found


def _interfaces() -> list[str]:
    """The network interfaces this box sees (a private network namespace has only `lo`)."""
    try:
        with open("/proc/self/net/dev") as devices:
            lines = devices.read().splitlines()[2:]
    except OSError:
        return ["unknown"]
    return [line.split(":", 1)[0].strip() for line in lines if ":" in line]


def _disk_full(work: str) -> bool:
    try:
        info = os.statvfs(work)
    except OSError:
        return False
    return info.f_bavail * info.f_frsize < 64 * 1024


def _send(fd: int, work: str, wanted: Sequence[str], cap: int) -> list[str]:
    notes: list[str] = []
    real_work = os.path.realpath(work)
    with os.fdopen(fd, "wb") as stream, tarfile.open(fileobj=stream, mode="w|") as archive:
        for relative in wanted:
            path = os.path.realpath(os.path.join(work, relative))
            if not path.startswith(real_work + os.sep):
                notes.append(f"not collected (outside the sandbox): {relative}")
                continue
            try:
                # Without blocking or following a link: a FIFO left under the collected name must not
                # hold the supervisor (and the run) until its time limit.
                descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
                with os.fdopen(descriptor, "rb") as handle:
                    info = os.fstat(handle.fileno())
                    if not stat.S_ISREG(info.st_mode):
                        continue
                    if info.st_size > cap:
                        notes.append(f"not collected (over {cap} bytes): {relative}")
                        continue
                    member = tarfile.TarInfo(relative)
                    member.size = info.st_size
                    archive.addfile(member, handle)
            except OSError:
                continue  # the command did not write it; the caller decides what that means
    return notes


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        print("aqe sandbox: no command given", file=sys.stderr)
        return EXIT_STAGE_FAILED
    for fd in (args.status_fd, args.output_fd):
        if fd >= 0:
            os.set_inheritable(fd, False)
    try:
        members = _unpack(args.input_fd, args.work) if args.input_fd >= 0 else 0
        for folder in args.writable:
            os.makedirs(folder, exist_ok=True)
    except (OSError, tarfile.TarError) as error:
        _status(args.status_fd, stage="unpack", error=str(error))
        print(f"aqe sandbox: could not unpack the project: {error}", file=sys.stderr)
        return EXIT_STAGE_FAILED
    try:
        limits = _limits_preview(args)
    except (ValueError, OSError) as error:
        _status(args.status_fd, stage="limits", error=str(error))
        print(f"aqe sandbox: could not set resource limits: {error}", file=sys.stderr)
        return EXIT_STAGE_FAILED
    _status(args.status_fd, stage="ready", members=members, limits=limits)
    code, sig = _run(args, command)
    report: dict[str, Any] = {"stage": "done", "exit": code, "signal": sig, "leftovers": _leftovers()}
    if args.check_mounts:
        report["writableOutside"] = _writable_mounts([args.work, *args.writable, args.box_tmpfs])
        report["interfaces"] = _interfaces()
    report["diskFull"] = _disk_full(args.work)
    if args.output_fd >= 0:
        report["collectNotes"] = _send(args.output_fd, args.work, args.collect, args.max_artifact_bytes)
    _status(args.status_fd, **report)
    if sig:
        return 128 + sig
    return code


def _limits_preview(args: argparse.Namespace) -> dict[str, int]:
    """Check the limits can be set before the command starts, so a bad value is a clear error here;
    they are applied for real in the command's own process, which leaves this supervisor unlimited."""
    values = {
        "cpuSeconds": args.cpu_seconds,
        "memoryBytes": args.memory_bytes,
        "maxProcesses": args.max_processes,
        "maxFileBytes": args.max_file_bytes,
        "maxOpenFiles": args.max_open_files,
    }
    for name, value in values.items():
        if value is not None and value < 0:
            raise ValueError(f"{name} must not be negative")
    return {name: value for name, value in values.items() if value is not None}


if __name__ == "__main__":
    sys.exit(main())
