"""The strict-mode network guard, exercised in child processes (an audit hook can never be removed).

Every child also installs a backstop hook AFTER the guard: if the guard ever let an outbound attempt
through, the backstop refuses it with its own error, so the test fails and still no packet leaves.
10.255.255.1 is only ever a connect target that must be refused before any packet is sent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aqe.privacy.audit import BlockedConnection, read_audit
from aqe.privacy.guard import is_local_host

PRELUDE = textwrap.dedent(
    """
    import ipaddress, json, socket, sys, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from pathlib import Path
    from aqe.privacy.audit import AuditLog
    from aqe.privacy.guard import GUARD, NetworkBlocked, install_network_guard

    install_network_guard(AuditLog(Path(sys.argv[1])), sys.argv[2])

    class GuardLetItThrough(Exception):
        pass

    def backstop(event, args):
        if event in ("socket.connect", "socket.sendto") and isinstance(args[1], tuple):
            if not str(args[1][0]).startswith("127.") and args[1][0] not in ("localhost", "::1"):
                raise GuardLetItThrough(f"{event} to {args[1]!r}")
        if event == "socket.getaddrinfo" and args[0] not in (None, "", "localhost", b"localhost"):
            try:
                ipaddress.ip_address(args[0].decode() if isinstance(args[0], bytes) else args[0])
            except ValueError:
                raise GuardLetItThrough(f"a DNS lookup of {args[0]!r}") from None

    sys.addaudithook(backstop)

    def outcome(action):
        try:
            action()
        except NetworkBlocked as error:
            return "blocked: " + str(error)
        except GuardLetItThrough as error:
            return "LEAKED: " + str(error)
        except Exception as error:
            cause = error.__cause__ or error.__context__
            while cause is not None and not isinstance(cause, NetworkBlocked):
                cause = cause.__cause__ or cause.__context__
            kind = "blocked" if cause is not None else "error"
            return f"{kind} via {type(error).__name__}: {error}"
        return "allowed"

    class Hello(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("content-length", "5")
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args):
            pass

    def local_server():
        server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server
    """
)


def run_child(body: str, audit_path: Path, mode: str = "strict") -> dict:
    """Run `body` after the prelude in a fresh interpreter, with no proxy settings to detour through."""
    script = PRELUDE + textwrap.dedent(body)
    no_proxies = {name: value for name, value in os.environ.items() if "proxy" not in name.lower()}
    completed = subprocess.run(
        [sys.executable, "-c", script, str(audit_path), mode],
        capture_output=True,
        text=True,
        timeout=120,
        env=no_proxies,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def blocked_entries(audit_path: Path) -> list[BlockedConnection]:
    return [entry for entry in read_audit(audit_path).entries if isinstance(entry, BlockedConnection)]


def test_a_raw_socket_connection_off_the_machine_is_refused_and_recorded(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"

    result = run_child(
        """
        print(json.dumps({"result": outcome(lambda: socket.create_connection(("10.255.255.1", 9), timeout=1))}))
        """,
        audit,
    )

    blocked = "blocked: aqe strict privacy mode blocked an outbound connection to 10.255.255.1:9"
    assert result["result"].startswith(blocked)
    (entry,) = blocked_entries(audit)
    assert (entry.host, entry.port, entry.privacy_mode) == ("10.255.255.1", 9, "strict")
    assert any("<string>" in frame for frame in entry.stack)


def test_connect_on_an_already_made_socket_is_refused_before_the_syn(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"

    result = run_child(
        """
        def attempt():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.settimeout(1)
                sock.connect(("10.255.255.1", 9))
        print(json.dumps({"result": outcome(attempt)}))
        """,
        audit,
    )

    assert result["result"].startswith("blocked:")
    assert [(entry.event, entry.host) for entry in blocked_entries(audit)] == [("socket.connect", "10.255.255.1")]


def test_an_http_client_request_off_the_machine_is_refused(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"

    result = run_child(
        """
        import httpx2
        print(json.dumps({"result": outcome(lambda: httpx2.get("http://10.255.255.1:9/", timeout=1, trust_env=False))}))
        """,
        audit,
    )

    assert result["result"].startswith("blocked via ConnectError")
    assert [entry.host for entry in blocked_entries(audit)] == ["10.255.255.1"]


def test_a_host_name_is_refused_without_being_looked_up(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"

    result = run_child(
        """
        import urllib.request
        print(json.dumps({
            "lookup": outcome(lambda: socket.getaddrinfo("api.anthropic.com", 443)),
            "urllib": outcome(lambda: urllib.request.urlopen("https://api.anthropic.com/v1/messages", timeout=1)),
        }))
        """,
        audit,
    )

    assert result["lookup"].startswith("blocked: ")
    assert result["urllib"].startswith("blocked via URLError")
    assert [(entry.event, entry.host, entry.port) for entry in blocked_entries(audit)] == [
        ("socket.getaddrinfo", "api.anthropic.com", 443)
    ] * 2


def test_loopback_connections_still_work_in_strict_mode(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"

    result = run_child(
        """
        import httpx2
        server = local_server()
        port = server.server_address[1]
        answers = {
            "ip": httpx2.get(f"http://127.0.0.1:{port}/", timeout=10).text,
            "name": httpx2.get(f"http://localhost:{port}/", timeout=10).text,
        }
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.sendto(b"ping", ("127.0.0.1", port))
        udp.close()
        pair = socket.socketpair()
        pair[0].sendall(b"unix")
        answers["unix"] = pair[1].recv(4).decode()
        server.shutdown()
        print(json.dumps(answers))
        """,
        audit,
    )

    assert result == {"ip": "hello", "name": "hello", "unix": "unix"}
    assert blocked_entries(audit) == []


def test_the_hook_follows_the_current_mode(tmp_path: Path) -> None:
    """A numeric address is resolved without any traffic, so the lookup is safe to allow here."""
    audit = tmp_path / "audit.jsonl"

    result = run_child(
        """
        balanced = outcome(lambda: socket.getaddrinfo("10.255.255.1", 9))
        GUARD.set_mode("strict")
        strict = outcome(lambda: socket.getaddrinfo("10.255.255.1", 9))
        print(json.dumps({"balanced": balanced, "strict": strict}))
        """,
        audit,
        mode="balanced",
    )

    assert result["balanced"] == "allowed"
    assert result["strict"].startswith("blocked: ")
    assert len(blocked_entries(audit)) == 1


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST", "api.localhost", "::ffff:127.0.0.1", ""],
)
def test_this_machine_counts_as_local(host: str) -> None:
    assert is_local_host(host)


@pytest.mark.parametrize(
    "host",
    ["10.255.255.1", "192.168.1.10", "8.8.8.8", "2001:db8::1", "::ffff:10.0.0.1", "example.org", "localhost.evil.org"],
)
def test_anything_else_counts_as_outbound(host: str) -> None:
    assert not is_local_host(host)
