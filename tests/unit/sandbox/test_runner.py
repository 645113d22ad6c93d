"""The sandbox against real hostile commands: each test runs a real subprocess and then checks /proc
that nothing it started is still alive."""

from __future__ import annotations

import signal
import socket
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest
from process_probe import alive_with

from aqe.llm.types import CancelToken
from aqe.sandbox.engines import ENGINE_BWRAP, ENGINE_NAMESPACES
from aqe.sandbox.runner import SandboxRefused, SandboxRunner, SandboxSpec, isolation_support


@pytest.fixture(params=[ENGINE_BWRAP, ENGINE_NAMESPACES])
def runner(request: pytest.FixtureRequest) -> SandboxRunner:
    """Every behaviour holds for both engines; one this machine cannot run is skipped with the reason."""
    support = isolation_support(request.param)
    if support.engine != request.param:
        pytest.skip(f"the {request.param} engine cannot run here: {support.detail}")
    return SandboxRunner(trusted=True, engine=request.param)


def _python(code: str, token: str) -> tuple[str, ...]:
    """A Python command whose command line carries `token`, so /proc can tell if any copy survived."""
    return (sys.executable, "-c", textwrap.dedent(code), token)


@pytest.fixture
def token() -> str:
    return f"aqe-sandbox-test-{uuid.uuid4().hex}"


def test_the_command_runs_in_a_temporary_folder_and_its_output_is_captured(runner, token):
    result = runner.run(SandboxSpec(command=_python("import os; print(os.getcwd()); print(os.environ['HOME'])", token)))
    assert result.exit_code == 0 and result.ok
    cwd, home = result.stdout_tail.split()
    assert Path(cwd).name == "work" and Path(home).name == "home"
    assert Path(cwd).parent == Path(home).parent
    assert not Path(cwd).exists()  # removed afterwards


def test_nothing_of_the_servers_environment_is_inherited(runner, token, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-should-never-leak")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_should_never_leak")
    spec = SandboxSpec(
        command=_python("import os, json; print(json.dumps(dict(os.environ)))", token),
        env=(("APP_MODE", "test"), ("DEPLOY_TOKEN", "dropped-too")),
    )
    result = runner.run(spec)
    assert "should-never-leak" not in result.stdout_tail and "should_never_leak" not in result.stdout_tail
    assert "dropped-too" not in result.stdout_tail
    assert '"APP_MODE": "test"' in result.stdout_tail


def test_an_untrusted_workspace_runs_nothing(tmp_path, token):
    witness = tmp_path / "ran"
    with pytest.raises(SandboxRefused, match="not trusted"):
        SandboxRunner(trusted=False).run(SandboxSpec(command=("touch", str(witness))))
    assert not witness.exists()


def test_an_endless_sleep_is_stopped_at_the_wall_clock_limit(runner, token):
    started = time.monotonic()
    result = runner.run(SandboxSpec(command=_python("import time; time.sleep(1000)", token), timeout_s=1.0))
    assert result.timed_out and result.stopped_reason == "timeout"
    assert time.monotonic() - started < 1.0 + 1.0
    assert result.signal in (signal.SIGTERM, signal.SIGKILL)
    assert alive_with(token) == []


def test_a_process_that_ignores_sigterm_is_killed(runner, token):
    code = """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(1000)
    """
    started = time.monotonic()
    result = runner.run(SandboxSpec(command=_python(code, token), timeout_s=1.0, grace_s=0.3))
    assert result.timed_out and result.signal == signal.SIGKILL
    assert time.monotonic() - started < 1.0 + 1.0
    assert alive_with(token) == []


def test_a_fork_bomb_is_contained_and_stopped(runner, token):
    code = """
        import os, time
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.001)
    """
    started = time.monotonic()
    result = runner.run(SandboxSpec(command=_python(code, token), timeout_s=2.0, max_processes=32, grace_s=0.2))
    assert result.stopped_reason in ("timeout", "too many processes")
    assert time.monotonic() - started < 2.0 + 1.0
    # The cgroup (root) or RLIMIT_NPROC (everyone else) held the count near the cap.
    if result.process_cap in ("cgroup", "rlimit"):
        assert result.peak_processes <= 32 + 4
    assert alive_with(token) == []


def test_a_daemonised_grandchild_is_found_and_killed(runner, token):
    code = """
        import os, sys, time
        if os.fork() == 0:
            os.setsid()  # a new session and process group: killpg of the sandbox no longer reaches it
            if os.fork() == 0:
                time.sleep(1000)
            os._exit(0)
        os.wait()
        print("parent done", flush=True)
    """
    started = time.monotonic()
    result = runner.run(SandboxSpec(command=_python(code, token), timeout_s=5.0))
    assert result.exit_code == 0 and "parent done" in result.stdout_tail
    assert result.leftover_processes >= 1
    assert time.monotonic() - started < 5.0
    assert alive_with(token) == []


def test_a_daemon_that_also_drops_its_environment_is_caught_by_the_cgroup(runner, token):
    code = """
        import os, sys, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execve(sys.executable, [sys.executable, "-c", "import time; time.sleep(1000)", sys.argv[1]], {})
            os._exit(0)
        os.wait()
    """
    result = runner.run(SandboxSpec(command=_python(code, token), timeout_s=5.0))
    if result.process_cap != "cgroup":
        pytest.skip("without a cgroup a daemon that replaces its environment after a double fork can escape")
    assert result.leftover_processes >= 1
    assert alive_with(token) == []


def test_a_10_gb_allocation_fails_inside_the_memory_limit(runner, token):
    code = """
        try:
            block = bytearray(10 * 1024**3)
        except MemoryError:
            print("MemoryError", flush=True)
            raise SystemExit(3)
        print("allocated", flush=True)
    """
    started = time.monotonic()
    result = runner.run(SandboxSpec(command=_python(code, token), timeout_s=10.0, memory_bytes=512 * 1024**2))
    assert result.exit_code == 3 and "MemoryError" in result.stdout_tail
    assert time.monotonic() - started < 10.0
    assert alive_with(token) == []


def test_cpu_time_is_limited_separately_from_wall_time(runner, token):
    result = runner.run(SandboxSpec(command=_python("while True: pass", token), timeout_s=20.0, cpu_seconds=1))
    assert result.signal in (signal.SIGXCPU, signal.SIGKILL)
    assert not result.timed_out
    assert result.duration_s < 10.0


def test_writes_inside_the_sandbox_work_and_writes_outside_are_refused(runner, tmp_path, token):
    outside = tmp_path / "outside.txt"
    code = f"""
        import os
        def attempt(label, path):
            try:
                with open(path, "w") as handle:
                    handle.write("x")
                print(label, "written")
            except OSError as error:
                print(label, "refused", error.errno)
        attempt("cwd", "relative.txt")
        attempt("home", os.path.join(os.environ["HOME"], "dotfile"))
        attempt("tmpdir", os.path.join(os.environ["TMPDIR"], "scratch"))
        attempt("outside", {str(outside)!r})
    """
    result = runner.run(SandboxSpec(command=_python(code, token)))
    lines = dict(line.split(" ", 1) for line in result.stdout_tail.splitlines())
    assert lines["cwd"] == lines["home"] == lines["tmpdir"] == "written"
    assert result.filesystem_contained and result.contained
    assert lines["outside"].startswith("refused")
    assert not outside.exists()


def test_where_nothing_can_contain_a_run_it_happens_only_when_the_user_accepted_that(tmp_path, token):
    witness = tmp_path / "ran"
    with pytest.raises(SandboxRefused, match="sandboxAllowUncontained"):
        SandboxRunner(trusted=True, engine="none").run(SandboxSpec(command=("touch", str(witness))))
    assert not witness.exists()

    accepted = SandboxRunner(trusted=True, engine="none", allow_uncontained=True)
    result = accepted.run(SandboxSpec(command=_python("print('ran')", token)))
    assert result.stdout_tail.strip() == "ran"
    assert not result.contained and not result.filesystem_contained and not result.network_isolated
    assert any(note.startswith("not contained") for note in result.notes)


def test_file_size_is_capped(runner, token):
    code = """
        try:
            with open("big.bin", "wb") as handle:
                handle.write(b"x" * (2 * 1024 * 1024))
            print("wrote it all")
        except OSError as error:
            print("refused", error.errno)
    """
    result = runner.run(SandboxSpec(command=_python(code, token), max_file_bytes=1024 * 1024))
    assert result.stdout_tail.strip() == "refused 27"  # EFBIG


def test_a_socket_connect_to_the_host_does_not_get_through(runner, token):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    code = f"""
        import socket
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
            print("connected")
        except OSError as error:
            print("refused", type(error).__name__)
    """
    try:
        started = time.monotonic()
        result = runner.run(SandboxSpec(command=_python(code, token), timeout_s=5.0))
        assert time.monotonic() - started < 5.0 + 1.0
        assert result.network_isolated
        assert result.stdout_tail.startswith("refused")
        with pytest.raises(TimeoutError):
            listener.accept()  # nothing ever reached the host's listener
    finally:
        listener.close()
    assert alive_with(token) == []


def test_the_network_can_be_allowed_explicitly(runner, token):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    code = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2).close(); print('connected')"
    try:
        result = runner.run(SandboxSpec(command=_python(code, token), allow_network=True))
        assert result.stdout_tail.strip() == "connected"
        assert not result.network_isolated
    finally:
        listener.close()


def test_a_private_loopback_works_inside_the_sandbox(runner, token):
    code = """
        import socket, threading
        server = socket.create_server(("127.0.0.1", 0))
        port = server.getsockname()[1]
        threading.Thread(target=lambda: server.accept()[0].sendall(b"pong"), daemon=True).start()
        print(socket.create_connection(("127.0.0.1", port), timeout=2).recv(4).decode())
    """
    result = runner.run(SandboxSpec(command=_python(code, token)))
    assert result.stdout_tail.strip() == "pong", result.stderr_tail


def test_cancelling_from_another_thread_stops_the_run(runner, token):
    cancel = CancelToken()
    timer = threading.Timer(0.3, cancel.cancel)
    timer.start()
    started = time.monotonic()
    result = runner.run(SandboxSpec(command=_python("import time; time.sleep(1000)", token), timeout_s=60), cancel)
    assert result.cancelled and result.stopped_reason == "cancelled"
    assert time.monotonic() - started < 0.3 + 1.5
    assert alive_with(token) == []


def test_output_is_kept_up_to_its_cap_from_the_end(runner, token):
    code = "import sys\nfor i in range(20000): sys.stdout.write(f'line {i:05d}\\n')"
    result = runner.run(SandboxSpec(command=_python(code, token), max_output_bytes=1000))
    assert result.stdout_bytes == 20000 * len("line 00000\n")
    assert len(result.stdout_tail) == 1000
    assert result.stdout_tail.endswith("line 19999\n")


def test_the_project_is_copied_in_and_requested_files_are_collected(runner, tmp_path, token):
    project = tmp_path / "project"
    (project / "pkg").mkdir(parents=True)
    (project / "pkg" / "data.txt").write_text("from the project")
    (project / ".git").mkdir()
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main")
    code = """
        import os
        print(open("pkg/data.txt").read(), os.path.exists(".git"))
        open("report.xml", "w").write("<testsuites/>")
    """
    spec = SandboxSpec(command=_python(code, token), copy_from=project, collect=("report.xml", "missing.xml"))
    result = runner.run(spec)
    assert result.stdout_tail.strip() == "from the project False"
    assert result.artifacts == {"report.xml": b"<testsuites/>"}
    assert not (project / "report.xml").exists()


def test_a_missing_program_is_a_clear_exit_code(runner, token):
    result = runner.run(SandboxSpec(command=(f"/nonexistent/{token}",)))
    assert result.exit_code == 127
    assert "cannot run" in result.stderr_tail


def test_the_copy_keeps_executable_files_executable_and_symlinks_as_links(runner, tmp_path, token):
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    script = project / "scripts" / "hello.sh"
    script.write_text("#!/bin/sh\necho hello from the script\n")
    script.chmod(0o755)
    (project / "link.sh").symlink_to("scripts/hello.sh")
    code = (
        "import os, subprocess\n"
        "ran = subprocess.run(['./link.sh'], capture_output=True, text=True).stdout.strip()\n"
        "print(ran, os.path.islink('link.sh'))"
    )
    result = runner.run(SandboxSpec(command=_python(code, token), copy_from=project))
    assert result.stdout_tail.strip() == "hello from the script True", result.stderr_tail


def test_a_fifo_left_under_a_collected_name_neither_hangs_the_run_nor_is_collected(runner, token):
    code = "import os; os.mkfifo('report.xml'); print('made')"
    spec = SandboxSpec(command=_python(code, token), collect=("report.xml",), timeout_s=60)
    result = runner.run(spec)
    assert result.stdout_tail.strip() == "made"
    assert result.stopped_reason is None and result.artifacts == {}
