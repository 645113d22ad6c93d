import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Slow(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(random.uniform(0.0, 0.08))  # a service whose latency varies
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


def start_server() -> str:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/status"
