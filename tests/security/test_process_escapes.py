"""Attacks on the run's end: leaving the cgroup, outliving the box, holding its output open."""

from __future__ import annotations

import sys

from process_probe import alive_with

from aqe.sandbox.runner import SandboxSpec


def test_leaving_the_cgroup_and_holding_the_output_pipe_neither_outlives_nor_hangs_the_run(runner, token):
    code = """
import os, sys
token = sys.argv[1]
for procs in ("/sys/fs/cgroup/cgroup.procs", "/sys/fs/cgroup/pids/cgroup.procs", "/sys/fs/cgroup/unified/cgroup.procs"):
    try:
        with open(procs, "w") as handle:
            handle.write(str(os.getpid()))
        print("LEFT THE CGROUP through", procs, flush=True)
    except OSError as error:
        print("cgroup refused", error.errno, flush=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        # Keeps stdout and stderr open for ever: the runner must not wait for their end.
        os.execv("/bin/sh", ["sh", "-c", f"sleep infinity; : {token}"])
    os._exit(0)
os.wait()
print("parent done", flush=True)
"""
    result = runner.run(SandboxSpec(command=(sys.executable, "-c", code, token), timeout_s=60))
    assert "LEFT THE CGROUP" not in result.stdout_tail
    assert "parent done" in result.stdout_tail
    assert result.stopped_reason is None  # it ended with its command, not at the time limit
    assert result.leftover_processes >= 1 and result.survivors == 0
    assert alive_with(token) == []


def test_nohup_and_a_double_fork_that_drops_its_environment_do_not_survive(runner, token):
    code = """
import os, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execve("/usr/bin/nohup", ["nohup", "/bin/sh", "-c", f"sleep 1000; : {sys.argv[1]}"], {})
    os._exit(0)
os.wait()
"""
    result = runner.run(SandboxSpec(command=(sys.executable, "-c", code, token), timeout_s=60))
    assert result.stopped_reason is None and result.survivors == 0
    assert result.leftover_processes >= 1
    assert alive_with(token) == []


def test_a_20_gb_allocation_fails_inside_the_memory_limit(runner, token):
    code = """
try:
    block = bytearray(20 * 1024**3)
    print("ALLOCATED")
except MemoryError:
    print("MemoryError")
"""
    result = runner.run(SandboxSpec(command=(sys.executable, "-c", code, token), memory_bytes=1024**3))
    assert result.stdout_tail.strip() == "MemoryError"


def test_the_users_secrets_in_the_environment_do_not_reach_the_command(runner, token, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", f"aws-{token}")
    monkeypatch.setenv("SSH_AUTH_SOCK", f"/tmp/ssh-{token}/agent.1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", f"sk-ant-{token}")
    code = "import os; print(sorted(os.environ.items()))"
    result = runner.run(SandboxSpec(command=(sys.executable, "-c", code, "x")))
    assert token not in result.stdout_tail


def test_creating_a_user_namespace_or_tracing_another_process_is_refused(runner, token):
    code = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000
print("unshare", libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), ctypes.get_errno())
PTRACE_ATTACH = 16
print("ptrace", libc.ptrace(PTRACE_ATTACH, os.getppid(), None, None), ctypes.get_errno())
print("keyctl", libc.syscall(250, 0, -4, 0, 0), ctypes.get_errno())  # KEYCTL_GET_KEYRING_ID of @u (x86_64)
"""
    result = runner.run(SandboxSpec(command=(sys.executable, "-c", code, token)))
    results = {line.split()[0]: line.split()[1] for line in result.stdout_tail.splitlines()}
    assert results["unshare"] == "-1" and results["ptrace"] == "-1"
    assert results["keyctl"] == "-1"
