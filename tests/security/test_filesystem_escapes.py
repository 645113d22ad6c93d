"""Attacks on the host's files from inside the box: each one ran as root and escaped before the box
was built on bubblewrap (or aqe's equivalent namespaces). Every write target is a file this test
made on the host, so a failure shows as a changed file, never as damage to the machine."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from aqe.sandbox.runner import SandboxSpec

REMOUNT_AND_WRITE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
MS_REMOUNT, MS_BIND, MS_REC = 32, 4096, 16384
for point in ("/", "/usr", "/tmp", os.getcwd()):
    code = libc.mount(None, point.encode(), None, MS_REMOUNT | MS_BIND, None)
    print("remount", point, code, ctypes.get_errno())
# Bind the host's root over the box (needs CAP_SYS_ADMIN over the mount namespace)
print("bind", libc.mount(b"/", b"/tmp", None, MS_BIND | MS_REC, None), ctypes.get_errno())
for path in sys.argv[2:]:  # argv[1] is the test's token
    try:
        with open(path, "a") as handle:
            handle.write("pwned")
        print("WROTE", path)
    except OSError as error:
        print("refused", path, error.errno)
"""


def _victims(tmp_path: Path) -> list[Path]:
    project = tmp_path / "project"
    victims = [
        tmp_path / "host-tmp-file.txt",
        tmp_path / "home" / ".bashrc",
        project / "src" / "app.py",
        project / "tests" / "test_app.py",
        project / ".git" / "config",
    ]
    for victim in victims:
        victim.parent.mkdir(parents=True, exist_ok=True)
        victim.write_text("original\n")
    return victims


def _snapshot(folder: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_a_remount_of_the_read_only_mounts_fails_and_nothing_outside_is_written(runner, tmp_path, token):
    victims = _victims(tmp_path)
    before = _snapshot(tmp_path)
    command = (sys.executable, "-c", REMOUNT_AND_WRITE, token, *map(str, victims))
    result = runner.run(SandboxSpec(command=command, copy_from=tmp_path / "project"))
    assert "WROTE" not in result.stdout_tail, result.stdout_tail
    remounts = [line.split() for line in result.stdout_tail.splitlines() if line.startswith("remount")]
    assert remounts and all(code == "-1" for _, _, code, _ in remounts)
    assert _snapshot(tmp_path) == before
    assert result.filesystem_contained and result.contained


def test_a_conftest_that_attacks_at_collection_changes_nothing_of_the_real_project(runner, tmp_path, token):
    victims = _victims(tmp_path)
    project = tmp_path / "project"
    attack = REMOUNT_AND_WRITE.replace("sys.argv[2:]", repr([str(v) for v in victims]))
    (project / "conftest.py").write_text(attack)
    (project / "tests" / "test_app.py").write_text("def test_ok():\n    assert True\n")
    before = _snapshot(tmp_path)
    command = (sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "tests", f"--basetemp={token}")
    result = runner.run(SandboxSpec(command=command, copy_from=project, timeout_s=120))
    assert "remount / -1" in result.stdout_tail, result.stdout_tail + result.stderr_tail
    assert "WROTE" not in result.stdout_tail
    assert _snapshot(tmp_path) == before


def test_files_outside_the_project_copy_cannot_be_read(runner, tmp_path, token):
    secret = tmp_path / "secrets" / "token.txt"
    secret.parent.mkdir()
    secret.write_text(f"secret-{token}")
    code = """
import sys
for path in sys.argv[1:-1]:
    try:
        with open(path) as handle:
            print("READ", path, handle.read(200))
    except OSError as error:
        print("refused", path, error.errno)
"""
    paths = (str(secret), "/etc/shadow", "/root/.ssh/id_rsa", "/root/.bash_history", "/var/log/syslog", "/run/user")
    result = runner.run(SandboxSpec(command=(sys.executable, "-c", code, *paths, token)))
    assert "READ" not in result.stdout_tail, result.stdout_tail
    assert f"secret-{token}" not in result.stdout_tail


def test_the_hosts_processes_are_not_visible(runner, token):
    code = "import os; print(len([name for name in os.listdir('/proc') if name.isdigit()]))"
    result = runner.run(SandboxSpec(command=(sys.executable, "-c", code, token)))
    assert int(result.stdout_tail) <= 4  # the box's init, its supervisor and this command


def test_the_hosts_unix_sockets_cannot_be_reached(runner, tmp_path, token):
    path = tmp_path / "agent.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind(f"\0{token}")
    abstract.listen(1)
    code = """
import socket, sys
for label, address in (("path", sys.argv[1]), ("abstract", "\\0" + sys.argv[2])):
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(address)
        print("CONNECTED", label)
    except OSError as error:
        print("refused", label, error.errno)
"""
    try:
        result = runner.run(SandboxSpec(command=(sys.executable, "-c", code, str(path), token)))
        assert "CONNECTED" not in result.stdout_tail, result.stdout_tail
        assert result.stdout_tail.count("refused") == 2
        for server in (listener, abstract):  # a connection would wait in the backlog, accepted or not
            server.setblocking(False)
            with pytest.raises(BlockingIOError):
                server.accept()
    finally:
        listener.close()
        abstract.close()


def test_filling_the_disk_stops_at_the_quota_and_says_so(runner, token):
    code = """
import os
written = 0
for index in range(8):
    try:
        with open(f"fill-{index}.bin", "wb") as handle:
            for _ in range(16):
                handle.write(b"x" * 1024 * 1024)
                written += 1024 * 1024
    except OSError as error:
        print("refused", error.errno)
        break
print("written", written)
"""
    quota = 32 * 1024**2
    result = runner.run(SandboxSpec(command=(sys.executable, "-c", code, token), disk_bytes=quota))
    assert "refused 28" in result.stdout_tail  # ENOSPC
    written = int(result.stdout_tail.split("written")[1].split()[0])
    assert written <= quota
    assert any("disk quota" in note for note in result.notes)


def test_the_box_has_no_network_interface_or_route_but_its_loopback(runner, token):
    code = "print(open('/proc/net/route').read().strip()); print(open('/proc/net/dev').read())"
    result = runner.run(SandboxSpec(command=(sys.executable, "-c", code, token)))
    lines = result.stdout_tail.splitlines()
    assert lines[0].startswith("Iface") and not any(line.startswith("Iface") is False and "\t" in line
                                                      for line in lines[1:2])  # fmt: skip
    interfaces = [line.split(":")[0].strip() for line in lines if ":" in line and "|" not in line]
    assert interfaces == ["lo"]
    assert result.network_isolated


@pytest.mark.parametrize("special", ["/dev/null", "/dev/zero"])
def test_the_boxs_devices_are_the_real_ones_and_stay_devices(runner, special, token):
    code = f"""
import os, stat
try:
    os.replace("{{here}}/x", "{special}")
    print("REPLACED")
except OSError as error:
    print("refused", error.errno)
with open("x", "w") as handle:
    handle.write("data")
try:
    os.replace("x", "{special}")
    print("REPLACED")
except OSError as error:
    print("refused", error.errno)
print(stat.S_ISCHR(os.stat("{special}").st_mode))
""".replace("{here}", ".")
    result = runner.run(SandboxSpec(command=(sys.executable, "-c", code, token)))
    assert "REPLACED" not in result.stdout_tail
    assert result.stdout_tail.strip().endswith("True")
