import json
import os
import random
import socket
import tempfile
import threading
import time


def open_exports() -> list:
    """Export files, left open for the caller; how many depends on the day's orders (30 to 80)."""
    folder = tempfile.mkdtemp(prefix="exports-")
    handles = []
    for index in range(random.randint(20, 70)):
        handles.append(open(os.path.join(folder, f"export-{index}.csv"), "w"))  # noqa: SIM115
    return handles


def connections(count: int) -> list[tuple[socket.socket, socket.socket]]:
    return [socket.socketpair() for _ in range(count)]


def busy_connections() -> int:
    return random.randint(10, 35)


def save_receipt(folder: str, number: int) -> str:
    """Writes a receipt; a housekeeping job may sweep the folder at any moment."""
    path = os.path.join(folder, f"receipt-{number}.json")
    with open(path, "w") as handle:
        json.dump({"number": number}, handle)
    if random.random() < 0.4:
        os.remove(path)  # swept by housekeeping
    return path


def write_in_background(path: str) -> None:
    """Flushes a document to disk on another thread, in two writes."""

    def flush() -> None:
        with open(path, "w") as handle:
            handle.write('{"items": ')
            handle.flush()
            time.sleep(random.uniform(0.0, 0.01))
            handle.write("[1, 2, 3]}")

    thread = threading.Thread(target=flush)
    thread.start()
    time.sleep(0.004)


def spool_folder(base: str) -> str:
    folder = os.path.join(base, "spool")
    if random.random() < 0.4:
        os.makedirs(folder)  # another worker created it first
    return folder
