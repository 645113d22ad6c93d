"""Run a command (a test suite, a generated test) in a contained subprocess and say how it ended.

The threat model is a hostile repository opened by a user who may be root (docs/sandbox.md): the
command must not reach the host's files, sockets, processes, network or secrets, and only the user
can loosen its limits. The box (bubblewrap, or aqe's own namespaces where bubblewrap is missing; see
aqe.sandbox.engines) holds:
- a read-only view of the system and the Python installations only (aqe.sandbox.layout), and a
  size-limited tmpfs under /tmp as its only writable space, holding a copy of the project that the
  runner streams in (aqe.sandbox.transfer) and the supervisor unpacks (aqe.sandbox.stage);
- its own user (unprivileged, no capabilities), pid, network (a private loopback), ipc, uts and
  cgroup namespaces, a system-call filter (aqe.sandbox.seccomp), no new user namespaces;
- resource limits (CPU seconds, address space, processes, file size, open files), a pids cgroup
  where one can be made, and a wall-clock limit, cancel and a process count watched by the runner;
- a clean environment: nothing of the server's is inherited (no API keys, tokens, cloud settings);
- stdout and stderr kept up to a cap (the tail, where the verdict of a test run is).

After each run the result says what was found, not what was set up: the network interfaces the box
saw, whether any mount outside its folder was writable at the end, how many processes were left and
whether any survived. An untrusted workspace never runs anything, and where nothing can be contained
a run happens only when the user accepted that.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aqe.config import Settings
from aqe.llm.types import CancelToken
from aqe.sandbox import engines
from aqe.sandbox.engines import IsolationSupport, isolation_support
from aqe.sandbox.environment import clean_environment, nproc_limit
from aqe.sandbox.layout import SANDBOX_PACKAGE, host_mounts
from aqe.sandbox.processes import PidsCgroup, ProcessTracker
from aqe.sandbox.transfer import Capped, PipeReader, Tail, read_artifacts, write_archive

__all__ = [
    "MARKER_VARIABLE", "WORK_FOLDER", "IsolationSupport", "SandboxRefused", "SandboxResult", "SandboxRunner",
    "SandboxSpec", "isolation_support",
]  # fmt: skip

log = logging.getLogger(__name__)

MARKER_VARIABLE = "AQE_SANDBOX_ID"
WORK_FOLDER = "work"
"""The working directory inside the sandbox's folder (a copy of `copy_from`, if given)."""
STAGE = SANDBOX_PACKAGE / "stage.py"

DEFAULT_COPY_EXCLUDES = (
    ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "node_modules", "__pycache__", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".aqe", ".eggs", "dist", "build", ".coverage",
)  # fmt: skip

_POLL_S = 0.05
_DRAIN_S = 2.0
"""How long the runner keeps reading the pipes after the box ended (nothing should hold them)."""
_CGROUP_JOIN = 'echo $$ > "$0" 2>/dev/null; exec "$@"'


class SandboxRefused(Exception):
    """The sandbox will not run this (an untrusted workspace, an empty command, nothing to contain it)."""


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
    disk_bytes: int = 1024**3
    """All the command may write, in all files together (the box's tmpfs)."""
    allow_network: bool = False
    collect: tuple[str, ...] = ()
    """Files (relative to the working directory) returned in `SandboxResult.artifacts`."""
    max_artifact_bytes: int = 64 * 1024**2
    max_output_bytes: int = 256 * 1024
    grace_s: float = 0.5
    python: str | None = None
    """The interpreter the command uses, when it is not aqe's own (a project's virtual environment):
    its installation is shown to the box read-only."""


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
    """The box saw no network interface but its own loopback."""
    filesystem_contained: bool
    """Nothing outside the box's folder was writable, checked after the command ran."""
    process_cap: str
    """How the process count was capped: "cgroup", "rlimit" or "watch" (the runner's own count)."""
    leftover_processes: int
    """Processes still running after the command ended (or was stopped) that the sandbox killed."""
    peak_processes: int
    notes: tuple[str, ...]
    artifacts: dict[str, bytes] = field(default_factory=dict, hash=False)
    engine: str = engines.ENGINE_NONE
    """What built the box: "bwrap", "namespaces" or "none" (nothing contained; see `contained`)."""
    survivors: int = 0
    """Processes of the run found alive after the sandbox had stopped everything (should be 0)."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.stopped_reason is None

    @property
    def contained(self) -> bool:
        return self.engine != engines.ENGINE_NONE and self.filesystem_contained and self.survivors == 0


class SandboxRunner:
    def __init__(
        self,
        *,
        trusted: bool,
        allow_uncontained: bool = False,
        engine: str | None = None,
        max_disk_bytes: int | None = None,
    ) -> None:
        self.trusted = trusted
        self.allow_uncontained = allow_uncontained
        """The user accepted running project code where nothing can contain it (a user-scope setting)."""
        self.engine = engine
        """Which engine to use ("bwrap", "namespaces"); None: the best this machine has."""
        self.max_disk_bytes = max_disk_bytes
        """The user's cap on what one run may write, over any spec's own."""

    @classmethod
    def for_settings(cls, settings: Settings, *, trusted: bool) -> SandboxRunner:
        """The runner the user's settings ask for (the limits only the user can loosen)."""
        return cls(
            trusted=trusted,
            allow_uncontained=settings.sandbox_allow_uncontained,
            max_disk_bytes=settings.sandbox_disk_mb * 1024**2,
        )

    def run(self, spec: SandboxSpec, cancel: CancelToken | None = None) -> SandboxResult:
        """Run `spec.command` to its end, its limit, or `cancel`; blocking (call it off the event loop)."""
        if not self.trusted:
            raise SandboxRefused("this workspace is not trusted: aqe does not run its code (trust it in your editor)")
        if not spec.command:
            raise SandboxRefused("the sandbox needs a command to run")
        for relative, _ in spec.files:
            if Path(relative).is_absolute() or ".." in Path(relative).parts:
                raise SandboxRefused(f"a sandbox file must stay inside its folder: {relative!r}")
        support = isolation_support(self.engine)
        if not support.contained and not self.allow_uncontained:
            raise SandboxRefused(
                f"aqe cannot contain project code on this machine ({support.detail}); install bubblewrap, "
                "or set sandboxAllowUncontained in your user settings to run it anyway"
            )
        if self.max_disk_bytes is not None and spec.disk_bytes > self.max_disk_bytes:
            spec = dataclasses.replace(spec, disk_bytes=self.max_disk_bytes)
        host_root = Path(tempfile.mkdtemp(prefix="aqe-sandbox-")) if not support.contained else None
        try:
            return _Run(spec, support, host_root, cancel or CancelToken()).execute()
        finally:
            if host_root is not None:
                shutil.rmtree(host_root, ignore_errors=True)


class _Run:
    """One sandboxed run: the command line, the pipes, the watch loop and the report."""

    def __init__(self, spec: SandboxSpec, support: IsolationSupport, host_root: Path | None, cancel: CancelToken):
        self.spec = spec
        self.support = support
        self.cancel = cancel
        self.notes: list[str] = []
        if host_root is None:
            self.root = f"/tmp/aqe-sandbox-{uuid.uuid4().hex[:12]}"
        else:
            self.root = str(host_root)
            self.notes.append(f"not contained: {support.detail}")
        self.work = f"{self.root}/{WORK_FOLDER}"
        self.marker = uuid.uuid4().hex
        self._close_later: list[int] = []

    def execute(self) -> SandboxResult:
        spec = self.spec
        python = spec.python or (spec.command[0] if "/" in spec.command[0] else sys.executable)
        env = clean_environment(f"{self.root}/home", f"{self.root}/tmp", spec.env, python)
        env[MARKER_VARIABLE] = self.marker
        cgroup = PidsCgroup.create(spec.max_processes)
        input_read, input_write = os.pipe()
        output_read, output_write = os.pipe()
        status_read, status_write = os.pipe()
        child_fds = [input_read, output_write, status_write]
        try:
            argv = self._argv(spec, input_read, output_write, status_write, python, child_fds)
        except BaseException:
            for fd in (
                input_read,
                input_write,
                output_read,
                output_write,
                status_read,
                status_write,
                *self._close_later,
            ):
                os.close(fd)
            if cgroup is not None:
                cgroup.remove()
            raise
        if cgroup is not None:
            argv = ["/bin/sh", "-c", _CGROUP_JOIN, str(cgroup.path / "cgroup.procs"), *argv]
        started = time.monotonic()
        try:
            process = subprocess.Popen(
                argv,
                cwd=self.root if not self.support.contained else "/",
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                pass_fds=tuple(child_fds),
                close_fds=True,
            )
        except OSError:
            for fd in (input_read, input_write, output_read, output_write, status_read, status_write):
                os.close(fd)
            if cgroup is not None:
                cgroup.remove()
            raise
        finally:
            for fd in self._close_later:
                with contextlib.suppress(OSError):
                    os.close(fd)
        for fd in (input_read, output_write, status_write):
            os.close(fd)
        write_archive(input_write, spec.copy_from, spec.copy_exclude, spec.files)
        assert process.stdout is not None and process.stderr is not None
        stdout, stderr = Tail(spec.max_output_bytes), Tail(spec.max_output_bytes)
        status, output = Capped(1024**2), Capped(spec.max_artifact_bytes * max(1, len(spec.collect)) + 1024**2)
        reader = PipeReader()
        reader.add(process.stdout.fileno(), stdout.add, owned=False)  # closed with their file objects below
        reader.add(process.stderr.fileno(), stderr.add, owned=False)
        reader.add(status_read, status.add)
        reader.add(output_read, output.add)
        tracker = ProcessTracker(process.pid, f"{MARKER_VARIABLE}={self.marker}".encode(), cgroup)
        stopped_reason, leftovers, survivors = None, 0, 0
        try:
            stopped_reason = self._watch(process, reader, tracker)
            exit_status = _wait(process)
            leftovers = tracker.kill_all(spec.grace_s)
            drain_until = time.monotonic() + _DRAIN_S
            while not reader.all_closed and time.monotonic() < drain_until:
                reader.pump(_POLL_S)
            survivors = len(tracker.scan())
        finally:
            if process.poll() is None:
                tracker.kill_all(0)
                process.kill()
                process.wait()
            reader.close()
            for stream in (process.stdout, process.stderr):
                with contextlib.suppress(OSError):
                    stream.close()
            if cgroup is not None:
                cgroup.remove()
        duration = time.monotonic() - started
        return self._result(
            exit_status, stopped_reason, duration, stdout, stderr, status, output, tracker, leftovers, survivors
        )

    def _argv(
        self, spec: SandboxSpec, input_fd: int, output_fd: int, status_fd: int, python: str, child_fds: list[int]
    ) -> list[str]:
        cpu = spec.cpu_seconds if spec.cpu_seconds is not None else max(1, int(spec.timeout_s + 0.999))
        stage = [sys.executable, "-I", "-S", str(STAGE), "--status-fd", str(status_fd), "--input-fd", str(input_fd)]
        stage += ["--output-fd", str(output_fd), "--work", self.work]
        stage += ["--writable", f"{self.root}/home", "--writable", f"{self.root}/tmp"]
        stage += ["--cpu-seconds", str(cpu), "--max-processes", str(nproc_limit(spec.max_processes))]
        stage += ["--max-file-bytes", str(spec.max_file_bytes), "--max-open-files", str(spec.max_open_files)]
        stage += ["--max-artifact-bytes", str(spec.max_artifact_bytes)]
        if spec.memory_bytes is not None:
            stage += ["--memory-bytes", str(spec.memory_bytes)]
        for relative in spec.collect:
            stage += ["--collect", relative]
        if self.support.contained:
            stage.append("--check-mounts")
        stage += ["--", *spec.command]
        pythons = [python] if python != sys.executable else []
        mounts = host_mounts(pythons)
        if self.support.engine == engines.ENGINE_BWRAP:
            assert self.support.bwrap is not None
            seccomp_fd = self._data_fd(_seccomp_filter(), child_fds)
            passwd = f"sandbox:x:{engines.SANDBOX_UID}:{engines.SANDBOX_UID}:aqe sandbox:{self.root}/home:/bin/sh\n"
            passwd_fd = self._data_fd(passwd.encode(), child_fds)
            if seccomp_fd is None:
                self.notes.append("no system-call filter: libseccomp (pyseccomp) is not available")
            prefix = engines.bwrap_arguments(
                self.support.bwrap, mounts, disk_bytes=spec.disk_bytes, allow_network=spec.allow_network,
                seccomp_fd=seccomp_fd, passwd_fd=passwd_fd, chdir="/tmp",
            )  # fmt: skip
            return [*prefix, "--", *stage]
        if self.support.engine == engines.ENGINE_NAMESPACES:
            from aqe.sandbox import confine

            seccomp_fd = self._data_fd(_seccomp_filter(), child_fds)
            if seccomp_fd is None:
                self.notes.append("no system-call filter: libseccomp (pyseccomp) is not available")
            prefix = confine.command(
                mounts, disk_bytes=spec.disk_bytes, allow_network=spec.allow_network, seccomp_fd=seccomp_fd
            )
            return prefix + stage
        return stage

    def _data_fd(self, data: bytes | None, child_fds: list[int]) -> int | None:
        """A file descriptor bubblewrap reads `data` from (a memory file, already at its start)."""
        if data is None:
            return None
        fd = os.memfd_create("aqe-sandbox-data", 0)
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
        child_fds.append(fd)
        self._close_later.append(fd)
        return fd

    def _watch(self, process: subprocess.Popen[bytes], reader: PipeReader, tracker: ProcessTracker) -> str | None:
        deadline = time.monotonic() + self.spec.timeout_s
        while process.poll() is None:
            reason = None
            if self.cancel.cancelled:
                reason = "cancelled"
            elif time.monotonic() >= deadline:
                reason = "timeout"
            elif len(tracker.scan()) > self.spec.max_processes + 3:  # + the box's own: sh, bwrap, its init
                reason = "too many processes"
            if reason is not None:
                tracker.kill_all(self.spec.grace_s, spare=self._box_parts(process.pid, tracker))
                return reason
            reader.pump(_POLL_S)  # returns as soon as output arrives, or after the poll interval
        return None

    def _box_parts(self, leader: int, tracker: ProcessTracker) -> set[int]:
        """bubblewrap (or unshare) and its first child: SIGTERM to them would tear the box down at
        once; the command gets SIGTERM and its grace period first."""
        if not self.support.contained:
            return set()
        return {leader} | {info.pid for info in tracker.known.values() if info.ppid == leader}

    def _result(
        self,
        exit_status: int,
        stopped_reason: str | None,
        duration: float,
        stdout: Tail,
        stderr: Tail,
        status: Capped,
        output: Capped,
        tracker: ProcessTracker,
        leftovers: int,
        survivors: int,
    ) -> SandboxResult:
        spec, notes = self.spec, self.notes
        reported = _merge_status(bytes(status.buffer))
        done = reported.get("stage") == "done"
        if done:
            signal_number = int(reported.get("signal") or 0)
            exit_code: int | None = None if signal_number else int(reported.get("exit", exit_status))
            # Inside a box the supervisor counts what the command left in its pid namespace; the
            # runner's own count would also see the box's parts (bubblewrap) still on their way out.
            reported_leftovers = int(reported.get("leftovers") or 0)
            leftovers = reported_leftovers if self.support.contained else max(leftovers, reported_leftovers)
        else:
            signal_number = -exit_status if exit_status < 0 else 0
            exit_code = exit_status if exit_status >= 0 else None
            if reported.get("error"):
                notes.append(f"the sandbox could not start the command: {reported['error']}")
        contained = self.support.contained
        interfaces = reported.get("interfaces")
        network_isolated = contained and not spec.allow_network
        if isinstance(interfaces, list):
            network_isolated = network_isolated and set(interfaces) <= {"lo"}
        writable = reported.get("writableOutside")
        filesystem_contained = contained
        if isinstance(writable, list) and writable:
            filesystem_contained = False
            notes.append("writable outside the sandbox after the run: " + ", ".join(map(str, writable)))
        elif contained and not done:
            notes.append("containment not re-checked after the run: the command was stopped")
        if reported.get("diskFull"):
            notes.append(f"the sandbox's disk quota ({spec.disk_bytes // 1024**2} MB) was used up")
        if survivors:
            notes.append(f"{survivors} process(es) of the run were still alive after it was stopped")
        notes.extend(str(note) for note in reported.get("collectNotes") or ())
        if output.overflowed:
            notes.append("the collected files were over their size cap and were dropped")
        if tracker.cgroup_seen:
            process_cap = "cgroup"
        elif os.geteuid() != 0:
            process_cap = "rlimit"
        else:
            process_cap = "watch"  # RLIMIT_NPROC does not apply to root, not even inside a user namespace
        artifacts = read_artifacts(bytes(output.buffer), spec.collect, spec.max_artifact_bytes)
        result = SandboxResult(
            exit_code=exit_code,
            signal=signal_number or None,
            timed_out=stopped_reason == "timeout",
            cancelled=stopped_reason == "cancelled",
            stopped_reason=stopped_reason,
            duration_s=duration,
            stdout_tail=stdout.text(),
            stderr_tail=stderr.text(),
            stdout_bytes=stdout.total,
            stderr_bytes=stderr.total,
            network_isolated=network_isolated,
            filesystem_contained=filesystem_contained,
            process_cap=process_cap,
            leftover_processes=leftovers if stopped_reason is None else 0,
            peak_processes=tracker.peak,
            notes=tuple(notes),
            artifacts=artifacts,
            engine=self.support.engine,
            survivors=survivors,
        )
        log.debug("sandbox: %s ended %s in %.2f s", spec.command[0], _describe(result), duration)
        return result


def _seccomp_filter() -> bytes | None:
    from aqe.sandbox.seccomp import filter_bpf

    return filter_bpf()


def _wait(process: subprocess.Popen[bytes]) -> int:
    try:
        return process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def _merge_status(raw: bytes) -> dict[str, Any]:
    """The supervisor's JSON lines, later lines overriding earlier ones (it writes one per step)."""
    merged: dict[str, Any] = {}
    for line in raw.splitlines():
        try:
            fields = json.loads(line)
        except ValueError:
            continue
        if isinstance(fields, Mapping):
            merged.update(fields)
    return merged


def _describe(result: SandboxResult) -> str:
    if result.stopped_reason:
        return f"stopped ({result.stopped_reason})"
    if result.signal:
        return f"by signal {result.signal}"
    return f"with exit code {result.exit_code}"
