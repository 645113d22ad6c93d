"""The system-call filter of the box: calls a test suite never needs and an escape always does.

Built with libseccomp (through `pyseccomp`, a ctypes binding: no compiler, the system's
libseccomp.so.2) rather than hand-written BPF, because libseccomp knows each architecture's call
numbers and the multiplexed calls. The same filter is handed to bubblewrap (`--seccomp FD`) and
loaded by the fallback engine before it becomes the supervisor.

Refused with EPERM: mounting and pivoting (a remount would clear the read-only flags), new
namespaces (clone/unshare with any CLONE_NEW* flag, setns), ptrace and process_vm_* (reaching into
another process), the kernel keyrings (shared per uid with the host's root), bpf, perf events,
userfaultfd, kernel modules, kexec, reboot, swap, the clock, accounting, quotactl, and TIOCSTI
(typing into the controlling terminal). clone3 answers ENOSYS so libc falls back to clone, whose
flags the filter can read.
"""

from __future__ import annotations

import errno
import functools
import logging
import tempfile

log = logging.getLogger(__name__)

_REFUSED = (
    "mount", "umount", "umount2", "pivot_root", "chroot", "unshare", "setns", "ptrace", "process_vm_readv",
    "process_vm_writev", "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon",
    "swapoff", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "acct", "quotactl", "syslog",
    "open_by_handle_at", "name_to_handle_at", "fsopen", "fsmount", "fsconfig", "move_mount", "open_tree",
    "mount_setattr", "lookup_dcookie", "uselib", "personality",
)  # fmt: skip
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET: one rule each (libseccomp's
# masked comparison tests one value, and any one of them set must be refused).
_CLONE_NEW_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)
_TIOCSTI = 0x5412


@functools.cache
def filter_bpf() -> bytes | None:
    """The filter as a BPF program (bubblewrap's --seccomp format); None where libseccomp is missing."""
    seccomp_filter = _build()
    if seccomp_filter is None:
        return None
    with tempfile.TemporaryFile() as handle:
        seccomp_filter.export_bpf(handle)
        handle.seek(0)
        return handle.read()


def _build():  # type: ignore[no-untyped-def]
    try:
        import pyseccomp as seccomp
    except (ImportError, OSError) as error:  # OSError: libseccomp.so.2 itself is missing
        log.warning("sandbox: no system-call filter (%s)", error)
        return None
    denied = seccomp.ERRNO(errno.EPERM)
    built = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in _REFUSED:
        try:
            built.add_rule(denied, name)
        except (OSError, ValueError, RuntimeError):
            continue  # not a system call on this architecture
    built.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    for flag in _CLONE_NEW_FLAGS:
        built.add_rule(denied, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    built.add_rule(denied, "ioctl", seccomp.Arg(1, seccomp.MASKED_EQ, 0xFFFFFFFF, _TIOCSTI))
    return built


def load_in_this_process() -> str:
    """Load the filter into the calling process (and its future children); says what happened."""
    seccomp_filter = _build()
    if seccomp_filter is None:
        return "unavailable"
    try:
        seccomp_filter.load()
    except OSError as error:
        return f"not loaded: {error}"
    return "loaded"
