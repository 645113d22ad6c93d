"""One module per LSP feature; each exposes `register(server)` (see aqe.lsp.server.FEATURES)."""
