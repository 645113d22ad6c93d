import http.client
import random
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Inventory(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(random.uniform(0.0, 0.08))  # the inventory service's latency varies
        body = b'{"apples": 3}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data = self.request.recv(64)
        time.sleep(random.uniform(0.0, 0.08))
        self.request.sendall(data.upper())


def start_inventory_service() -> tuple[str, int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Inventory)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[0], server.server_address[1]


def start_echo_service() -> tuple[str, int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[0], server.server_address[1]


def stock_level(host: str, port: int) -> int:
    connection = http.client.HTTPConnection(host, port, timeout=0.04)
    try:
        connection.request("GET", "/stock")
        return connection.getresponse().status
    finally:
        connection.close()


def shout(host: str, port: int, text: str) -> str:
    with socket.create_connection((host, port), timeout=0.04) as client:
        client.sendall(text.encode())
        return client.recv(64).decode()
