"""Run a command (a test suite, a generated test) in a contained subprocess and say how it ended.

What the box is made of, and what it is not:
- its own session and process group, and a tracker that also finds daemonised grandchildren
  (see aqe.sandbox.processes); at the wall-clock limit, on cancel, or when the command exits and
  leaves something running, every one of them is stopped (SIGTERM, then SIGKILL);
- resource limits (CPU seconds, address space, processes, file size, open files) set by an exec
  wrapper, never by preexec_fn; a pids cgroup too where one can be made;
- a fresh temporary folder as working directory, HOME and TMPDIR, optionally seeded with a copy of
  the project, and removed afterwards;
- where unprivileged user namespaces work: no network (a private loopback only) and every mount
  read-only except that folder. Where they do not, the result and the log say so;
- a clean environment: nothing of the server's is inherited (no API keys, tokens, cloud settings);
- stdout and stderr kept up to a cap (the tail, where the verdict of a test run is).

An untrusted workspace never runs anything: `SandboxRunner(trusted=False).run(...)` raises.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from aqe.llm.types import CancelToken
from aqe.sandbox.processes import PidsCgroup, ProcessTracker

log = logging.getLogger(__name__)

MARKER_VARIABLE = "AQE_SANDBOX_ID"
WORK_FOLDER = "work"
"""The working directory inside the sandbox's temporary folder (a copy of `copy_from`, if given)."""

DEFAULT_COPY_EXCLUDES = (
    ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "node_modules", "__pycache__", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".aqe", ".eggs", "dist", "build", ".coverage",
)  # fmt: skip

_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "COOKIE", "SESSION")
_POLL_S = 0.05


class SandboxRefused(Exception):
    """The sandbox will not run this (an untrusted workspace, an empty command)."""


@dataclass(frozen=True)
class SandboxSpec:
    command: tuple[str, ...]
    copy_from: Path | None = None
    """A folder copied into the sandbox as its working directory (the project, minus `copy_exclude`)."""
    copy_exclude: tuple[str, ...] = DEFAULT_COPY_EXCLUDES
    files: tuple[tuple[str, str], ...] = ()
    """Extra files written into the working directory: (relative path, text)."""
    env: tuple[tuple[str, str], ...] = ()
    """Variables for the command, on top of the clean environment; secret-looking names are dropped."""
    timeout_s: float = 60.0
    cpu_seconds: int | None = None
    """Default: the wall-clock limit rounded up (a busy loop cannot outlast it on one core)."""
    memory_bytes: int | None = 2 * 1024**3
    max_processes: int = 128
    max_file_bytes: int = 256 * 1024**2
    max_open_files: int = 1024
    allow_network: bool = False
    read_only_outside: bool = True
    """Make every mount read-only except the sandbox's folder (needs user namespaces)."""
    collect: tuple[str, ...] = ()
    """Files (relative to the working directory) returned in `SandboxResult.artifacts`."""
    max_artifact_bytes: int = 64 * 1024**2
    max_output_bytes: int = 256 * 1024
    grace_s: float = 0.5


@dataclass(frozen=True)
class SandboxResult:
    exit_code: int | None
    """The command's exit status; None when a signal ended it (see `signal`)."""
    signal: int | None
    timed_out: bool
    cancelled: bool
    stopped_reason: str | None
    """Why the sandbox stopped the command: "timeout", "cancelled", "too many processes"; else None."""
    duration_s: float
    stdout_tail: str
    stderr_tail: str
    stdout_bytes: int
    stderr_bytes: int
    network_isolated: bool
    filesystem_contained: bool
    """Mounts outside the sandbox's folder were read-only (see `notes` for any that stayed writable)."""
    process_cap: str
    """How the process count was capped: "cgroup", "rlimit" or "watch" (the runner's own count)."""
    leftover_processes: int
    """Processes still running after the command ended (or was stopped) that the sandbox killed."""
    peak_processes: int
    notes: tuple[str, ...]
    artifacts: dict[str, bytes] = field(default_factory=dict, hash=False)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.stopped_reason is None


@dataclass(frozen=True)
class IsolationSupport:
    """What this machine's kernel lets an ordinary process do, checked once per server."""

    user_namespaces: bool
    detail: str


@functools.cache
def isolation_support() -> IsolationSupport:
    unshare = shutil.which("unshare")
    if unshare is None:
        support = IsolationSupport(False, "the `unshare` program (util-linux) is not installed")
    else:
        try:
            probe = subprocess.run(
                [unshare, "--user", "--map-root-user", "--net", "--mount", "--", "true"],
                capture_output=True,
                timeout=10,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            )
            if probe.returncode == 0:
                support = IsolationSupport(True, "user, network and mount namespaces available")
            else:
                reason = probe.stderr.decode(errors="replace").strip() or f"exit {probe.returncode}"
                support = IsolationSupport(False, f"unprivileged user namespaces are not allowed here ({reason})")
        except (OSError, subprocess.TimeoutExpired) as error:
            support = IsolationSupport(False, f"could not check for user namespaces ({error})")
    level = logging.INFO if support.user_namespaces else logging.WARNING
    log.log(level, "sandbox: %s", support.detail)
    return support


def clean_environment(home: Path, tmp: Path, extra: Sequence[tuple[str, str]], python: str) -> dict[str, str]:
    """Only what a test run needs; nothing inherited, so no credential of the user's can leak in."""
    path = os.pathsep.join(dict.fromkeys([str(Path(python).parent), "/usr/local/bin", "/usr/bin", "/bin"]))
    env = {
        "PATH": path,
        "HOME": str(home),
        "TMPDIR": str(tmp),
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


class _Tail:
    """The last `cap` bytes of a stream, and how many bytes it carried in all."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.total = 0
        self._chunks: collections.deque[bytes] = collections.deque()
        self._kept = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self._chunks.append(chunk)
        self._kept += len(chunk)
        while self._kept - len(self._chunks[0]) >= self.cap:
            self._kept -= len(self._chunks.popleft())

    def text(self) -> str:
        data = b"".join(self._chunks)[-self.cap :] if self.cap else b""
        return data.decode("utf-8", errors="replace")


def _drain(stream: IO[bytes], tail: _Tail) -> None:
    try:
        while chunk := stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536):
            tail.add(chunk)
    except (OSError, ValueError):
        pass


class SandboxRunner:
    def __init__(self, *, trusted: bool) -> None:
        self.trusted = trusted

    def run(self, spec: SandboxSpec, cancel: CancelToken | None = None) -> SandboxResult:
        """Run `spec.command` to its end, its limit, or `cancel`; blocking (call it off the event loop)."""
        if not self.trusted:
            raise SandboxRefused("this workspace is not trusted: aqe does not run its code (trust it in your editor)")
        if not spec.command:
            raise SandboxRefused("the sandbox needs a command to run")
        root = Path(tempfile.mkdtemp(prefix="aqe-sandbox-"))
        try:
            return self._run_in(root, spec, cancel or CancelToken())
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def _run_in(self, root: Path, spec: SandboxSpec, cancel: CancelToken) -> SandboxResult:
        work, home, tmp = root / WORK_FOLDER, root / "home", root / "tmp"
        if spec.copy_from is not None:
            shutil.copytree(spec.copy_from, work, symlinks=True, ignore=shutil.ignore_patterns(*spec.copy_exclude))
        else:
            work.mkdir()
        home.mkdir()
        tmp.mkdir()
        for relative, text in spec.files:
            target = (work / relative).resolve()
            if work.resolve() not in target.parents:
                raise SandboxRefused(f"a sandbox file must stay inside its folder: {relative!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")

        notes: list[str] = []
        support = isolation_support()
        isolate_network = not spec.allow_network and support.user_namespaces
        read_only = spec.read_only_outside and support.user_namespaces
        if not support.user_namespaces and (not spec.allow_network or spec.read_only_outside):
            notes.append(f"not isolated: {support.detail}")
        cgroup = PidsCgroup.create(spec.max_processes)
        marker = uuid.uuid4().hex
        env = clean_environment(home, tmp, spec.env, spec.command[0] if "/" in spec.command[0] else sys.executable)
        env[MARKER_VARIABLE] = marker

        cpu = spec.cpu_seconds if spec.cpu_seconds is not None else max(1, int(spec.timeout_s + 0.999))
        status_read, status_write = os.pipe()
        wrapper = [sys.executable, "-I", "-m", "aqe.sandbox.limits", "--status-fd", str(status_write)]
        wrapper += ["--cpu-seconds", str(cpu), "--max-processes", str(_nproc_limit(spec.max_processes))]
        wrapper += ["--max-file-bytes", str(spec.max_file_bytes), "--max-open-files", str(spec.max_open_files)]
        if spec.memory_bytes is not None:
            wrapper += ["--memory-bytes", str(spec.memory_bytes)]
        if cgroup is not None:
            wrapper += ["--cgroup", str(cgroup.path)]
        if isolate_network:
            wrapper.append("--isolate-network")
        if read_only:
            wrapper += ["--read-only-root", "--writable", str(root)]
        wrapper += ["--", *spec.command]

        started = time.monotonic()
        try:
            process = subprocess.Popen(
                wrapper,
                cwd=work,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                pass_fds=(status_write,),
                close_fds=True,
            )
        except OSError:
            os.close(status_read)
            os.close(status_write)
            if cgroup is not None:
                cgroup.remove()
            raise
        os.close(status_write)
        tracker = ProcessTracker(process.pid, f"{MARKER_VARIABLE}={marker}".encode(), cgroup)
        stdout, stderr = _Tail(spec.max_output_bytes), _Tail(spec.max_output_bytes)
        status_lines: list[dict[str, Any]] = []
        readers = [
            threading.Thread(target=_drain, args=(process.stdout, stdout), daemon=True),
            threading.Thread(target=_drain, args=(process.stderr, stderr), daemon=True),
            threading.Thread(target=_read_status, args=(status_read, status_lines), daemon=True),
        ]
        for reader in readers:
            reader.start()

        stopped_reason: str | None = None
        leftovers = 0
        try:
            deadline = started + spec.timeout_s
            while process.poll() is None:
                if cancel.cancelled:
                    stopped_reason = "cancelled"
                elif time.monotonic() >= deadline:
                    stopped_reason = "timeout"
                elif len(tracker.scan()) > spec.max_processes:
                    stopped_reason = "too many processes"
                if stopped_reason is not None:
                    tracker.kill_all(spec.grace_s)
                    break
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=_POLL_S)  # returns at once when the command exits
            exit_status = _wait(process)
            # The command is over; anything of its still running (a daemon, a server a test forgot)
            # is stopped too, so nothing outlives the sandbox.
            leftovers = tracker.kill_all(spec.grace_s)
        finally:
            if process.poll() is None:
                tracker.kill_all(0)
                process.kill()
                process.wait()
            for reader in readers:
                reader.join(timeout=2)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
            if cgroup is not None:
                cgroup.remove()
        duration = time.monotonic() - started

        achieved = _merge_status(status_lines)
        network_isolated = achieved.get("network") == "isolated"
        contained = bool(achieved.get("readOnlyRoot"))
        if achieved.get("stillWritable"):
            notes.append("still writable outside the sandbox: " + ", ".join(achieved["stillWritable"]))
        if read_only and not contained:
            notes.append(f"the file system could not be made read-only: {achieved.get('readOnlyError', 'unknown')}")
        if cgroup is not None and achieved.get("cgroup") == "joined":
            process_cap = "cgroup"
        elif os.geteuid() != 0 or isolate_network or read_only:
            process_cap = "rlimit"
        else:
            process_cap = "watch"  # RLIMIT_NPROC does not apply to root outside a user namespace
        artifacts = _collect(root / WORK_FOLDER, spec.collect, spec.max_artifact_bytes, notes)
        result = SandboxResult(
            exit_code=exit_status if exit_status >= 0 else None,
            signal=-exit_status if exit_status < 0 else None,
            timed_out=stopped_reason == "timeout",
            cancelled=stopped_reason == "cancelled",
            stopped_reason=stopped_reason,
            duration_s=duration,
            stdout_tail=stdout.text(),
            stderr_tail=stderr.text(),
            stdout_bytes=stdout.total,
            stderr_bytes=stderr.total,
            network_isolated=network_isolated,
            filesystem_contained=contained,
            process_cap=process_cap,
            leftover_processes=leftovers if stopped_reason is None else 0,
            peak_processes=tracker.peak,
            notes=tuple(notes),
            artifacts=artifacts,
        )
        log.debug("sandbox: %s ended %s in %.2f s", spec.command[0], _describe(result), duration)
        return result


def _nproc_limit(max_processes: int) -> int:
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


def _wait(process: subprocess.Popen[bytes]) -> int:
    try:
        return process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def _read_status(fd: int, lines: list[dict[str, Any]]) -> None:
    with os.fdopen(fd, "rb") as pipe:
        for raw in pipe:
            try:
                lines.append(json.loads(raw))
            except ValueError:
                continue


def _merge_status(lines: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for line in lines:
        merged.update(line)
    return merged


def _collect(work: Path, wanted: Sequence[str], cap: int, notes: list[str]) -> dict[str, bytes]:
    artifacts: dict[str, bytes] = {}
    for relative in wanted:
        path = (work / relative).resolve()
        if work.resolve() not in path.parents:
            notes.append(f"not collected (outside the sandbox): {relative}")
            continue
        try:
            size = path.stat().st_size
            if size > cap:
                notes.append(f"not collected (over {cap} bytes): {relative}")
                continue
            artifacts[relative] = path.read_bytes()
        except OSError:
            continue  # the command did not write it; the caller decides what that means
    return artifacts


def _describe(result: SandboxResult) -> str:
    if result.stopped_reason:
        return f"stopped ({result.stopped_reason})"
    if result.signal:
        return f"by signal {result.signal}"
    return f"with exit code {result.exit_code}"
