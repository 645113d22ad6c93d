"""The server keeps answering whatever the client sends: garbage, broken frames, bad params, 1 TB claims.

Tests in the first part run against every command in SERVER_COMMANDS and use only what any LSP
server built on AqeProtocol has (the lifecycle, workspace/executeCommand, unknown methods). Tests in
the second part need the minimal test server's handlers.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import RawLspClient, frame, read_frames, request_message

REPO = Path(__file__).resolve().parents[2]
MINIMAL_SERVER = Path(__file__).resolve().parent / "servers" / "minimal_server.py"

SERVER_COMMANDS: list[list[str]] = [
    [sys.executable, str(MINIMAL_SERVER)],
    [sys.executable, "-m", "aqe", "serve"],
]

# Unknown to every server: answered with -32601, so it proves the server is reading and answering.
PROBE = "$/aqe/transportProbe"
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INVALID_REQUEST = -32600
INTERNAL_ERROR = -32603
SERVER_NOT_INITIALIZED = -32002
REQUEST_CANCELLED = -32800

pytestmark = pytest.mark.e2e


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "server"), env.get("PYTHONPATH")]))
    return env


def start(command: list[str], workspace: Path) -> RawLspClient:
    return RawLspClient(command, cwd=workspace, env=server_env())


def command_id(command: list[str]) -> str:
    return Path(command[-1]).stem if len(command) == 2 else " ".join(command[1:])


@pytest.fixture(params=SERVER_COMMANDS, ids=command_id)
def server_command(request: pytest.FixtureRequest) -> list[str]:
    return request.param


@pytest.fixture
def client(server_command: list[str], tmp_path: Path) -> Iterator[RawLspClient]:
    with start(server_command, tmp_path) as lsp:
        lsp.initialize(root_uri=tmp_path.as_uri())
        yield lsp
        assert lsp.violations == [], "the server wrote something that is not an LSP frame"


@pytest.fixture
def minimal(tmp_path: Path) -> Iterator[RawLspClient]:
    with start(SERVER_COMMANDS[0], tmp_path) as lsp:
        lsp.initialize(root_uri=tmp_path.as_uri())
        yield lsp
        assert lsp.violations == []


def error_code(response: dict[str, Any]) -> int | None:
    return response.get("error", {}).get("code")


def answered_once(client: RawLspClient, msg_id: Any) -> bool:
    return len(client.responses_to(msg_id)) == 1


def garbage(rng: random.Random) -> bytes:
    """One of many ways to send something that is not a valid LSP message."""
    noise = rng.randbytes(rng.randrange(0, 200))
    choices = [
        lambda: noise,
        lambda: b"Content-Length: %d\r\n\r\n" % len(noise) + noise,
        lambda: b"Content-Length: %d\r\n\r\n" % max(0, len(noise) + rng.randint(-50, 50)) + noise,
        lambda: frame(rng.choice([[], 7, "text", None, {"a": 1}, {"jsonrpc": "2.0"}, [{"jsonrpc": "2.0"}]])),
        lambda: frame({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": 5}}),
        lambda: frame({"jsonrpc": "2.0", "method": "$/aqe/unknownNotification", "params": {}}),
        lambda: b"Content-Length: %d\r\n\r\n" % rng.randrange(10**6, 10**13),
        lambda: rng.choice([b"\r\n", b"\r\n\r\n", b"Content-Length: ", b"content-type: x\r\n", b"}", b"\x00"]),
        lambda: b"Content-Length: 40\r\n\r\n" + b'{"jsonrpc": "2.0", "method": "' + b"\xff\xfe" * 4 + b'"}',
    ]
    return rng.choice(choices)()


# --- any server ------------------------------------------------------------------------------------


def test_a_known_method_with_invalid_params_gets_invalid_params_within_a_second(client: RawLspClient) -> None:
    response = client.request("workspace/executeCommand", {"arguments": [1]}, timeout=1.0)

    assert error_code(response) == INVALID_PARAMS


def test_an_unknown_method_gets_method_not_found(client: RawLspClient) -> None:
    assert error_code(client.request(PROBE, {}, timeout=1.0)) == METHOD_NOT_FOUND


def test_two_thousand_garbage_bodies_leave_every_valid_request_answered_exactly_once(
    client: RawLspClient,
) -> None:
    rng = random.Random(20251125)
    probe_ids = []
    for index in range(2000):
        client.send_raw(garbage(rng))
        if index % 100 == 99:
            probe_ids.append(client.send_request(PROBE, {}))
    probe_ids.append(client.send_request(PROBE, {}))

    for msg_id in probe_ids:
        client.wait_for_response(msg_id, timeout=30)
    client.request(PROBE, {}, timeout=10)

    assert client.is_alive()
    assert all(answered_once(client, msg_id) for msg_id in probe_ids)
    assert client.notifications("window/showMessage") == []


@pytest.mark.parametrize("delta", [-50, -1, 1, 50, None], ids=["minus50", "minus1", "plus1", "plus50", "missing"])
def test_after_a_wrong_or_missing_content_length_the_server_is_back_in_step_within_two_messages(
    client: RawLspClient, delta: int | None
) -> None:
    broken = request_message(PROBE, {"padding": "x" * 100}, "broken")
    if delta is None:
        client.send_raw(frame(broken, headers={"Content-Type": "application/vscode-jsonrpc; charset=utf-8"}))
    else:
        client.send_raw(frame(broken, length_delta=delta))
    first = client.send_request(PROBE, {})
    second = client.send_request(PROBE, {})

    client.wait_for_response(second, timeout=5)

    assert answered_once(client, second)
    assert len(client.responses_to(first)) <= 1
    assert len(client.responses_to("broken")) <= 1


def wait_for_background_work(client: RawLspClient, timeout: float = 30.0) -> None:
    """aqe indexes the workspace after `initialized`: memory measured meanwhile grows with the index.
    (The minimal test server has no index and answers the command with an error at once.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.request("workspace/executeCommand", {"command": "aqe.indexStatus"}, timeout=10)
        if "error" in status or status["result"]["ready"]:
            return
        time.sleep(0.1)
    raise AssertionError("the index never became ready")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads RSS from /proc")
def test_a_terabyte_frame_is_rejected_without_the_server_growing(client: RawLspClient) -> None:
    junk = random.Random(3).randbytes(1024 * 1024)
    wait_for_background_work(client)
    client.request(PROBE, {}, timeout=10)
    before = client.rss_bytes()

    client.send_raw(b"Content-Length: 1099511627776\r\n\r\n")
    for _ in range(48):
        client.send_raw(junk)
    response = client.request(PROBE, {}, timeout=30)

    assert error_code(response) == METHOD_NOT_FOUND
    assert client.rss_bytes() - before < 8 * 1024 * 1024


def test_a_request_over_the_frame_cap_is_answered_with_invalid_request(client: RawLspClient) -> None:
    params = {"textDocument": {"uri": "file:///huge.py"}, "padding": "x" * (17 * 1024 * 1024)}
    client.send_raw(frame(request_message(PROBE, params, "huge")))

    response = client.wait_for_response("huge", timeout=30)

    assert error_code(response) == INVALID_REQUEST
    assert error_code(client.request(PROBE, {}, timeout=10)) == METHOD_NOT_FOUND


def test_batches_and_non_json_rpc_objects_with_ids_get_invalid_request(client: RawLspClient) -> None:
    client.send(
        [
            request_message(PROBE, {}, "batch-1"),
            {"jsonrpc": "2.0", "method": "initialized"},
            request_message(PROBE, {}, 7),
        ]
    )
    client.send({"id": "no-version", "method": PROBE})

    for msg_id in ("batch-1", 7, "no-version"):
        assert error_code(client.wait_for_response(msg_id, timeout=1.0)) == INVALID_REQUEST


def test_a_notification_method_sent_as_a_request_gets_invalid_request(client: RawLspClient) -> None:
    params = {"textDocument": {"uri": "file:///x.py", "languageId": "python", "version": 1, "text": ""}}

    response = client.request("textDocument/didOpen", params, timeout=1.0)

    assert error_code(response) == INVALID_REQUEST


def test_a_request_before_initialize_gets_server_not_initialized(server_command: list[str], tmp_path: Path) -> None:
    with start(server_command, tmp_path) as lsp:
        response = lsp.request("workspace/executeCommand", {"command": "x"}, timeout=5)

        assert error_code(response) == SERVER_NOT_INITIALIZED
        lsp.initialize(root_uri=tmp_path.as_uri())


def test_a_request_after_shutdown_gets_invalid_request(client: RawLspClient) -> None:
    assert "error" not in client.request("shutdown", timeout=5)

    assert error_code(client.request(PROBE, {}, timeout=1.0)) == INVALID_REQUEST


def test_shutdown_then_exit_ends_the_server_with_code_zero(client: RawLspClient) -> None:
    assert client.shutdown() == 0


def test_exit_without_shutdown_ends_the_server_with_code_one(client: RawLspClient) -> None:
    client.notify("exit")

    assert client.wait_for_exit() == 1


def test_closing_stdin_ends_the_server(client: RawLspClient) -> None:
    client.close_stdin()

    assert client.wait_for_exit() == 0


def test_the_server_ends_when_the_client_stops_reading_its_output(server_command: list[str], tmp_path: Path) -> None:
    process = subprocess.Popen(
        server_command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
        env=server_env(),
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdout.close()
        process.stdin.write(frame(request_message("initialize", {"processId": None, "capabilities": {}}, 1)))
        process.stdin.flush()

        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()
        process.stdin.close()


def test_the_aqe_servers_informational_logs_reach_the_editor_once_and_not_again_on_stderr(tmp_path: Path) -> None:
    # Editors print a server's stderr in the same output panel (VS Code marks each line an error).
    with start([sys.executable, "-m", "aqe", "serve", "-v"], tmp_path) as lsp:
        lsp.initialize(root_uri=tmp_path.as_uri())
        deadline = time.monotonic() + 10
        logged: list[str] = []
        while not any("started for" in line for line in logged) and time.monotonic() < deadline:
            time.sleep(0.05)
            logged = [message["params"]["message"] for message in lsp.notifications("window/logMessage")]
        lsp.shutdown()

    assert sum("started for" in line for line in logged) == 1
    assert "started for" not in lsp.stderr_text()


# --- the minimal server's handlers -----------------------------------------------------------------


def hover_params(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"textDocument": {"uri": "file:///a.py"}, "position": {"line": 1, "character": 2}}
    params.update(overrides)
    return params


def test_hover_with_a_missing_position_gets_invalid_params_naming_the_field(minimal: RawLspClient) -> None:
    params = hover_params()
    del params["position"]

    response = minimal.request("textDocument/hover", params, timeout=1.0)

    assert error_code(response) == INVALID_PARAMS
    assert "position" in response["error"]["message"]


def test_a_handler_exception_becomes_an_internal_error_and_the_server_keeps_serving(minimal: RawLspClient) -> None:
    failed = minimal.request("aqe/echo", {"text": "raise"}, timeout=5)
    echoed = minimal.request("aqe/echo", {"text": "still here"}, timeout=5)

    assert error_code(failed) == INTERNAL_ERROR
    assert echoed["result"] == {"text": "still here"}


def test_a_result_that_cannot_be_serialised_becomes_an_internal_error(minimal: RawLspClient) -> None:
    assert error_code(minimal.request("aqe/unserialisable", {}, timeout=5)) == INTERNAL_ERROR
    assert "result" in minimal.request("textDocument/hover", hover_params(), timeout=5)


def test_a_failing_notification_handler_is_logged_not_shown(minimal: RawLspClient) -> None:
    minimal.notify("aqe/explode", {})
    minimal.request("textDocument/hover", hover_params(), timeout=5)

    assert minimal.notifications("window/showMessage") == []
    assert "aqe/explode always raises" in minimal.stderr_text()


def test_stray_writes_to_stdout_never_reach_the_protocol_stream(minimal: RawLspClient) -> None:
    response = minimal.request("aqe/print", {}, timeout=10)
    minimal.request("textDocument/hover", hover_params(), timeout=5)

    assert response["result"] == "printed"
    assert minimal.violations == []
    deadline = time.monotonic() + 5
    while "stray child output" not in minimal.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert {"stray print() output", "stray write to fd 1", "stray child output"} <= set(
        minimal.stderr_text().splitlines()
    )


def test_a_running_async_request_can_be_cancelled(minimal: RawLspClient) -> None:
    msg_id = minimal.send_request("aqe/sleep", {"seconds": 60})
    minimal.request("textDocument/hover", hover_params(), timeout=5)

    minimal.notify("$/cancelRequest", {"id": msg_id})

    assert error_code(minimal.wait_for_response(msg_id, timeout=5)) == REQUEST_CANCELLED


def test_shutdown_with_requests_still_queued_answers_them_cancelled_and_succeeds(minimal: RawLspClient) -> None:
    # pygls iterated its pending requests while cancelling them: a queued thread request's done
    # callback removed its entry mid-loop and `shutdown` itself failed.
    running = minimal.send_request("aqe/block", {"seconds": 1})
    queued = [minimal.send_request("aqe/block", {"seconds": 1}) for _ in range(3)]

    shutdown = minimal.request("shutdown", timeout=5)

    assert "error" not in shutdown
    assert [error_code(minimal.wait_for_response(msg_id, timeout=5)) for msg_id in queued] == [REQUEST_CANCELLED] * 3
    assert minimal.wait_for_response(running, timeout=10)["result"] == "blocked"


def test_a_queued_thread_request_can_be_cancelled_while_the_running_one_completes(minimal: RawLspClient) -> None:
    running = minimal.send_request("aqe/block", {"seconds": 1})
    queued = minimal.send_request("aqe/block", {"seconds": 1})

    minimal.notify("$/cancelRequest", {"id": queued})

    assert error_code(minimal.wait_for_response(queued, timeout=5)) == REQUEST_CANCELLED
    assert minimal.wait_for_response(running, timeout=10)["result"] == "blocked"


def test_a_hover_arrives_intact_after_a_wrong_length_frame_in_the_same_write(minimal: RawLspClient) -> None:
    hover = request_message("textDocument/hover", hover_params(), "after")
    minimal.send_raw(b"\x00garbage" + frame(request_message(PROBE, {}, "bad"), length_delta=30) + frame(hover))

    response = minimal.wait_for_response("after", timeout=5)

    assert response["result"]["contents"]["value"] == "file:///a.py:1:2"


# --- in-process: serve_stdio on given streams, serve_tcp ----------------------------------------------


def _load_minimal_server() -> Any:
    spec = importlib.util.spec_from_file_location("minimal_server", MINIMAL_SERVER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _read_response(sock: socket.socket, buffer: bytearray) -> dict[str, Any]:
    while b"\r\n\r\n" not in buffer:
        buffer += sock.recv(65536)
    header, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    length = int(header.split(b"Content-Length:")[1].split(b"\r\n")[0])
    while len(rest) < length:
        rest += sock.recv(65536)
    buffer[:] = rest[length:]
    return json.loads(rest[:length])


def test_serve_tcp_resynchronises_after_garbage_and_returns_when_the_client_leaves() -> None:
    from aqe.lsp.transport.protocol import serve_tcp

    server = _load_minimal_server().create_server()
    port = _free_port()
    thread = threading.Thread(target=serve_tcp, args=(server, "127.0.0.1", port), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    buffer = bytearray()
    with sock:
        sock.sendall(frame(request_message("initialize", {"capabilities": {}}, 1)))
        assert "result" in _read_response(sock, buffer)
        sock.sendall(b"junk\xff" + frame(request_message(PROBE, {}, "bad"), length_delta=-20))
        sock.sendall(frame(request_message("textDocument/hover", hover_params(), 2)))
        responses = [_read_response(sock, buffer), _read_response(sock, buffer)]
    thread.join(timeout=10)

    assert {response["id"]: error_code(response) for response in responses} == {"bad": METHOD_NOT_FOUND, 2: None}
    assert not thread.is_alive()


def test_serve_tcp_raises_system_exit_with_the_lsp_exit_code_on_exit() -> None:
    from aqe.lsp.transport.protocol import serve_tcp

    server = _load_minimal_server().create_server()
    port = _free_port()
    outcome: list[object] = []

    def serve() -> None:
        try:
            serve_tcp(server, "127.0.0.1", port)
            outcome.append("returned")
        except SystemExit as exit_request:
            outcome.append(exit_request.code)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    with sock:
        sock.sendall(
            frame(request_message("initialize", {"capabilities": {}}, 1))
            + frame(request_message("shutdown", None, 2))
            + frame({"jsonrpc": "2.0", "method": "exit"})
        )
        thread.join(timeout=10)

    assert outcome == [0]


class _KeptOpen(io.BytesIO):
    """The `exit` handler closes the output stream; keep what was written readable."""

    def close(self) -> None:
        pass


def _initialize() -> bytes:
    return frame(request_message("initialize", {"processId": None, "capabilities": {}}, "init"))


def test_serve_stdio_on_given_streams_answers_everything_and_returns_at_the_end_of_input() -> None:
    from aqe.lsp.transport.protocol import serve_stdio

    stdin = io.BytesIO(
        _initialize()
        + b"\x00garbage\xff"
        + frame(request_message("textDocument/hover", hover_params(), 1))
        + frame(request_message(PROBE, {}, "bad"), length_delta=7)
        + frame(request_message("aqe/echo", {"text": "last"}, 2))
    )
    stdout = _KeptOpen()

    serve_stdio(_load_minimal_server().create_server(), stdin, stdout)

    responses = read_frames(stdout.getvalue())
    assert [response["id"] for response in responses] == ["init", 1, "bad", 2]
    assert responses[-1]["result"] == {"text": "last"}


@pytest.mark.parametrize(("shutdown_first", "code"), [(True, 0), (False, 1)])
def test_serve_stdio_raises_system_exit_with_the_lsp_exit_code(shutdown_first: bool, code: int) -> None:
    from aqe.lsp.transport.protocol import serve_stdio

    shutdown = frame(request_message("shutdown", None, "down")) if shutdown_first else b""
    stdin = io.BytesIO(_initialize() + shutdown + frame({"jsonrpc": "2.0", "method": "exit"}))

    with pytest.raises(SystemExit) as exit_request:
        serve_stdio(_load_minimal_server().create_server(), stdin, _KeptOpen())

    assert exit_request.value.code == code
