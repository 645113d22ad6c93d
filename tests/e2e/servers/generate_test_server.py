"""`aqe serve` plus a stand-in `aqe.generateTest` command that echoes its arguments, so end-to-end
tests can check that actions offered for coverage gaps call it with the arguments it expects (the real
command belongs to test generation, built separately)."""

from __future__ import annotations

import sys
from typing import Any

from aqe.lsp.protocol import serve_stdio
from aqe.lsp.server import AqeLanguageServer, create_server


def main() -> None:
    server = create_server()

    @server.command("aqe.generateTest")
    def generate_test(ls: AqeLanguageServer, *args: Any) -> dict[str, Any]:
        return {"received": list(args)}

    try:
        serve_stdio(server)
    except SystemExit as exit_request:
        sys.exit(exit_request.code)


if __name__ == "__main__":
    main()
