"""The transport: JSON-RPC framing and the protocol fixes that keep pygls serving through bad input
(a wrong Content-Length, a huge frame, invalid params, a queued request at shutdown).

It overrides private members of pygls' JsonRPCProtocol, so pyproject.toml pins the pygls versions it
was written against, and tests/unit/lsp/test_transport_pins.py fails loudly when those internals
change under it.
"""
