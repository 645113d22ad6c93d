"""The opt-in Prometheus endpoint of `aqe serve --tcp`, scraped during a real session over TCP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import aqe

pytestmark = pytest.mark.e2e

TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TcpLspClient:
    """Just enough of an LSP client: frames over a socket, answers to the server's own requests."""

    def __init__(self, port: int) -> None:
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        self.responses: dict[Any, dict[str, Any]] = {}
        self.arrived = threading.Condition()
        self.last_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    @staticmethod
    def frame(message: dict[str, Any]) -> bytes:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        return b"Content-Length: %d\r\n\r\n" % len(body) + body

    def send_requests(self, *calls: tuple[str, Any]) -> list[int]:
        """Several requests in one write, so the server reads them together."""
        ids = list(range(self.last_id + 1, self.last_id + 1 + len(calls)))
        self.last_id = ids[-1]
        self.socket.sendall(
            b"".join(self.frame({"id": i, "method": m, "params": p}) for i, (m, p) in zip(ids, calls, strict=True))
        )
        return ids

    def response(self, msg_id: int) -> dict[str, Any]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: msg_id in self.responses, timeout=TIMEOUT_S), f"no answer to {msg_id}"
            return self.responses.pop(msg_id)

    def request(self, method: str, params: Any) -> dict[str, Any]:
        (msg_id,) = self.send_requests((method, params))
        return self.response(msg_id)

    def notify(self, method: str, params: Any) -> None:
        self.socket.sendall(self.frame({"method": method, "params": params}))

    def _read(self) -> None:
        stream = self.socket.makefile("rb")
        while True:
            headers: dict[str, str] = {}
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("ascii").partition(":")
                headers[name.strip().lower()] = value.strip()
            if not headers:
                return
            message = json.loads(stream.read(int(headers["content-length"])))
            if "method" in message and "id" in message:  # the server asks: configuration, progress, ...
                items = (message.get("params") or {}).get("items")
                result = [None] * len(items) if items is not None else None
                self.socket.sendall(self.frame({"id": message["id"], "result": result}))
            elif "id" in message:
                with self.arrived:
                    self.responses[message["id"]] = message
                    self.arrived.notify_all()


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=TIMEOUT_S) as response:
        text = response.read().decode("utf-8")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _wait_for(condition, what: str) -> Any:
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        try:
            result = condition()
            if result:
                return result
        except (OSError, urllib.error.URLError):
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def server(tmp_path: Path):
    workspace = tmp_path / "project"
    (workspace / "tests").mkdir(parents=True)
    (workspace / "tests" / "test_cart.py").write_text("def test_add():\n    total = 1 + 1\n", encoding="utf-8")
    lsp_port, metrics_port = _free_port(), _free_port()
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith("AQE_")},
        "AQE_METRICS_PORT": str(metrics_port),
        "AQE_WARM_POOL_SIZE": "0",  # the model loads on first use: this session never asks it
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(Path(aqe.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")) if p
        ),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "aqe", "serve", "--tcp", f"127.0.0.1:{lsp_port}"],
        cwd=workspace,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def connected() -> TcpLspClient | None:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            return TcpLspClient(lsp_port)

        client = _wait_for(connected, "the server to listen")
        yield client, workspace, metrics_port
    finally:
        process.kill()
        process.wait(timeout=TIMEOUT_S)


def test_the_metrics_endpoint_counts_requests_and_times_them(server):
    client, workspace, metrics_port = server
    initialize = client.request(
        "initialize",
        {
            "processId": None,
            "rootUri": workspace.as_uri(),
            "capabilities": {},
            "initializationOptions": {"trusted": True},
        },
    )
    assert "capabilities" in initialize["result"]
    client.notify("initialized", {})

    first = _wait_for(lambda: _scrape(metrics_port), "the metrics endpoint")
    assert first[("aqe_lsp_requests_total", (("method", "initialize"),))] == 1
    assert first[("aqe_lsp_notifications_total", (("method", "initialized"),))] == 1
    assert first[("aqe_lsp_request_duration_seconds_count", (("method", "initialize"),))] == 1
    assert first[("aqe_model_queue_depth", ())] == 0
    assert first[("aqe_model_calls_total", ())] == 0

    uri = (workspace / "tests" / "test_cart.py").as_uri()
    text = (workspace / "tests" / "test_cart.py").read_text(encoding="utf-8")
    client.notify(
        "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}
    )
    for garbage in ("aqe/notAMethod", "x-" + "garbage" * 5):
        assert client.request(garbage, {})["error"]["code"] == -32601  # refused before dispatch
        client.notify(garbage, {})
    # Answered in order after everything above, so the scrape below sees every earlier message counted.
    for _ in range(3):
        hover = client.request(
            "textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 5}}
        )
        assert "error" not in hover, hover
    # Two identical questions read together: the second shares the first's model call (a cache hit).
    ask = {"command": "aqe.ask", "arguments": ["def add(a, b):\n    return", {"maxTokens": 4}]}
    answers = [client.response(i) for i in client.send_requests(*[("workspace/executeCommand", ask)] * 2)]
    assert [answer["result"]["text"] for answer in answers] == [answers[0]["result"]["text"]] * 2, answers

    second = _scrape(metrics_port)
    assert second[("aqe_lsp_requests_total", (("method", "textDocument/hover"),))] == 3
    assert second[("aqe_lsp_request_duration_seconds_count", (("method", "textDocument/hover"),))] == 3
    assert second[("aqe_lsp_request_duration_seconds_sum", (("method", "textDocument/hover"),))] > 0
    assert second[("aqe_lsp_notifications_total", (("method", "textDocument/didOpen"),))] == 1
    assert second[("aqe_lsp_requests_total", (("method", "workspace/executeCommand"),))] == 2
    assert second[("aqe_model_requests_total", ())] == 2
    assert second[("aqe_model_calls_total", ())] == 1
    assert second[("aqe_model_cache_hits_total", ())] == 1
    assert second[("aqe_model_queue_depth", ())] == 0
    assert second[("aqe_lsp_notifications_total", (("method", "other"),))] == 2  # unknown names are not labels
    assert not [key for key in second if any("garbage" in v or "notAMethod" in v for _, v in key[1])]
