"""`python -m aqe.healthcheck PORT`: exit 0 when this host (a container) has a TCP listener on PORT.

The container image's HEALTHCHECK for `aqe serve --tcp`. It looks the socket up in the kernel's
table instead of connecting because `aqe serve --tcp` serves ONE client and stops when that client
disconnects: a probe that connected before the editor did would be taken for the client and end
the server. What it proves is that the server process still holds its listening socket; a server
that hangs while listening is the editor's watchdog's business (see RELIABILITY.md).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

TCP_TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
LISTEN_STATE = "0A"


def listening_ports(tables: Iterable[Path] = TCP_TABLES) -> set[int]:
    """Local ports of sockets in LISTEN state, from /proc/net/tcp and tcp6 (of this network namespace)."""
    ports: set[int] = set()
    for table in tables:
        try:
            lines = table.read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == LISTEN_STATE:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 1 or not arguments[0].isdigit():
        print("usage: python -m aqe.healthcheck PORT", file=sys.stderr)
        return 2
    port = int(arguments[0])
    if port in listening_ports():
        return 0
    print(f"aqe healthcheck: nothing listens on TCP port {port}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
