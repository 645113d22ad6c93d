"""aqe: a local-first quality-engineering language server."""

__version__ = "0.1.0"
