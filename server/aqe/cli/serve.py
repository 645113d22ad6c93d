"""`aqe serve`: the language server on stdio or TCP."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from aqe.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    configure_logging,
)


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    serve = commands.add_parser("serve", help="run the language server (stdio by default)")
    serve.add_argument("--stdio", action="store_true", help="talk LSP over stdin/stdout (the default)")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on a TCP socket instead of stdio")
    serve.add_argument("--log-file", type=Path, help="also write logs to this file")
    serve.add_argument("-v", "--verbose", action="count", default=0, help="more logs (-v info, -vv debug)")
    serve.set_defaults(run=_serve)


def _serve(args: argparse.Namespace) -> int:
    # stdout carries the protocol: everything else goes to stderr or the log file.
    configure_logging(args.verbose, args.log_file, default=logging.WARNING)
    from aqe.lsp.server import create_server
    from aqe.lsp.transport.protocol import serve_stdio, serve_tcp

    server = create_server()
    code = EXIT_OK
    try:
        if args.tcp:
            host, _, port = args.tcp.rpartition(":")
            if not port.isdigit() or not 0 < int(port) < 65536:
                print(f"aqe serve: --tcp expects HOST:PORT (port 1-65535), got {args.tcp!r}", file=sys.stderr)
                return EXIT_USAGE
            serve_tcp(server, host or "127.0.0.1", int(port))
        else:
            serve_stdio(server)
    except SystemExit as exit_request:
        code = exit_request.code if isinstance(exit_request.code, int) else EXIT_OK
    _exit_even_if_a_worker_thread_hangs(code)
    return code


def _exit_even_if_a_worker_thread_hangs(code: int, grace_seconds: float = 3.0) -> None:
    """Python waits for thread-pool workers at exit, so one hung handler would keep a server that the
    editor asked to exit alive forever (and never restarted). Give them a grace period, then go."""
    import threading

    timer = threading.Timer(grace_seconds, lambda: (logging.shutdown(), os._exit(code)))
    timer.daemon = True
    timer.start()
