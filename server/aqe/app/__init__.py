"""The application layer: orchestration that both front doors (the language server, the command line)
call, so the same request gives the same answer from either. It knows neither lsprotocol nor argparse;
the feature packages below it never import it (import-linter contracts in pyproject.toml, checked by
the test suite).

`Project` (root, settings and trust, decided in one place, and the factories that follow from them),
and one service per capability: review (rules, conventions, providers, the learned filter), learning,
test generation, coverage, flaky tests and the index.
"""
