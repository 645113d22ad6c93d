"""Finding every process a sandboxed command started, and stopping them all (Linux /proc).

A process group alone misses a daemon that called setsid(), and its session id changes with it, so a
process counts as the sandbox's when any of these holds:
- it is in the command's session or process group (the command is their leader);
- its parent was one of the sandbox's processes when last seen (a double fork is caught if any scan
  saw the middle process);
- its environment carries the sandbox's marker variable (inherited by every descendant unless it
  deliberately replaces its environment);
- it is in the sandbox's pids cgroup, when one could be made (root only; catches everything).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
import uuid
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    ppid: int
    pgid: int
    sid: int
    state: str
    start_ticks: int
    """Start time in clock ticks since boot: with the pid it names one process, even after pid reuse."""


def read_process(pid: int) -> ProcessInfo | None:
    try:
        raw = (PROC / str(pid) / "stat").read_bytes().decode("utf-8", "replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself contain spaces or parentheses.
    closing = raw.rfind(")")
    fields = raw[closing + 2 :].split()
    if len(fields) < 20:
        return None
    return ProcessInfo(
        pid=pid,
        ppid=int(fields[1]),
        pgid=int(fields[2]),
        sid=int(fields[3]),
        state=fields[0],
        start_ticks=int(fields[19]),
    )


def iter_processes() -> Iterator[ProcessInfo]:
    try:
        names = os.listdir(PROC)
    except OSError:
        return
    for name in names:
        if name.isdigit():
            info = read_process(int(name))
            if info is not None:
                yield info


def environment_has(pid: int, marker: bytes) -> bool:
    try:
        return marker in (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return False


def is_alive(info: ProcessInfo) -> bool:
    """Still running (not a zombie) and still the same process (its start time unchanged)."""
    now = read_process(info.pid)
    return now is not None and now.start_ticks == info.start_ticks and now.state not in ("Z", "X")


class PidsCgroup:
    """A pids cgroup (v2 or v1) capping how many processes the sandbox may have at once.

    RLIMIT_NPROC counts per user and is not enforced for root at all, so a fork bomb run by root
    would be bounded only by the machine's pid limit. Only root can usually make one; everyone else
    relies on RLIMIT_NPROC inside the user namespace and on the runner's own count.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, max_processes: int) -> PidsCgroup | None:
        for base in _pids_hierarchies():
            path = base / "aqe-sandbox" / uuid.uuid4().hex[:12]
            try:
                path.mkdir(parents=True)
            except OSError:
                continue
            try:
                (path / "pids.max").write_text(str(max_processes))
            except OSError:
                _rmdir_quietly(path)
                continue
            return cls(path)
        return None

    def members(self) -> set[int]:
        try:
            return {int(line) for line in (self.path / "cgroup.procs").read_text().split()}
        except (OSError, ValueError):
            return set()

    def remove(self) -> None:
        _rmdir_quietly(self.path)


def _pids_hierarchies() -> list[Path]:
    candidates = []
    v2 = Path("/sys/fs/cgroup")
    for unified in (v2, v2 / "unified"):
        try:
            if "pids" in (unified / "cgroup.subtree_control").read_text().split():
                candidates.append(unified)
        except OSError:
            pass
    v1 = v2 / "pids"
    if (v1 / "cgroup.procs").exists():
        candidates.append(v1)
    return [c for c in candidates if os.access(c, os.W_OK)]


def _rmdir_quietly(path: Path) -> None:
    for _ in range(50):  # the kernel frees a cgroup shortly after its last process is reaped
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)
    log.warning("could not remove the sandbox cgroup %s", path)


class ProcessTracker:
    """The set of processes belonging to one sandboxed command, refreshed by `scan()`."""

    def __init__(self, leader: int, marker: bytes, cgroup: PidsCgroup | None = None) -> None:
        self.leader = leader
        self.marker = marker
        self.cgroup = cgroup
        self.known: dict[int, ProcessInfo] = {}
        self.peak = 0
        self.cgroup_seen = False
        """The cgroup held a process of the run at some scan: the run really joined it."""
        leader_info = read_process(leader)
        self._started_after = leader_info.start_ticks if leader_info else 0
        self._self = os.getpid()

    def scan(self) -> dict[int, ProcessInfo]:
        """Every live process of the sandbox now; remembers them so orphans are still recognised."""
        table = {info.pid: info for info in iter_processes()}
        in_cgroup = self.cgroup.members() if self.cgroup is not None else set()
        self.cgroup_seen = self.cgroup_seen or bool(in_cgroup)
        found: dict[int, ProcessInfo] = {}
        for info in table.values():
            if info.pid == self._self or info.state in ("Z", "X"):
                continue
            previous = self.known.get(info.pid)
            if (previous is not None and previous.start_ticks == info.start_ticks) or (
                info.sid == self.leader
                or info.pgid == self.leader
                or info.pid in in_cgroup
                or (info.start_ticks >= self._started_after and environment_has(info.pid, self.marker))
            ):
                found[info.pid] = info
        # Children of anything found (a process that has not exec'd yet still carries the marker, but
        # one that replaced its environment is caught here while its parent lives).
        changed = True
        while changed:
            changed = False
            for info in table.values():
                if info.pid not in found and info.ppid in found and info.state not in ("Z", "X"):
                    found[info.pid] = info
                    changed = True
        self.known = found
        self.peak = max(self.peak, len(found))
        return found

    def signal_all(self, sig: int, spare: Container[int] = ()) -> int:
        """Send `sig` to the group and to every tracked process but `spare`; returns how many."""
        sent = 0
        if self.leader not in spare:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.leader, sig)
        for info in list(self.known.values()):
            if info.pid in spare or not is_alive(info):
                continue
            try:
                os.kill(info.pid, sig)
                sent += 1
            except (ProcessLookupError, PermissionError):
                pass
        return sent

    def kill_all(self, grace_s: float, spare: Container[int] = ()) -> int:
        """SIGTERM, up to `grace_s` for them to go, then SIGKILL until none is left.

        `spare` is left out of the SIGTERM (a box's own parts, whose death would end the command at
        once, with no grace): they go with the SIGKILL. Returns how many distinct processes were stopped.
        """
        self.scan()
        victims = set(self.known)
        if not self.known:
            return 0
        self.signal_all(signal.SIGTERM, spare)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            if not set(self.scan()) - set(spare):
                break
            victims.update(self.known)
            time.sleep(0.02)
        for _ in range(500):  # a fork bomb may keep adding processes while we kill them
            if not self.scan():
                break
            victims.update(self.known)
            self.signal_all(signal.SIGKILL)
            time.sleep(0.01)
        return len(victims - set(spare))


def live(infos: Iterable[ProcessInfo]) -> list[ProcessInfo]:
    return [info for info in infos if is_alive(info)]
