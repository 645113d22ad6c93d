"""The language server's features and the application layer import each other in one direction only:
a cycle (the server module importing a feature that imports the server) makes start-up order matter
and hides which feature depends on which."""

from __future__ import annotations

import itertools

import grimp


def _cycles(graph: grimp.ImportGraph, modules: list[str]) -> list[tuple[str, str]]:
    found = []
    for first, second in itertools.combinations(modules, 2):
        for importer, imported in ((first, second), (second, first)):
            direct = graph.direct_import_exists(importer=importer, imported=imported)
            if direct and graph.find_shortest_chain(importer=imported, imported=importer) is not None:
                found.append((importer, imported))
    return found


def test_no_import_cycles_in_the_language_server_and_the_application_layer():
    graph = grimp.build_graph("aqe")
    modules = sorted(m for m in graph.modules if m.startswith(("aqe.lsp", "aqe.app")) or m == "aqe.engine")
    assert _cycles(graph, modules) == []
