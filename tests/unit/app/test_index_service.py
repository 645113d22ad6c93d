"""The index behind both front doors: one freshness policy, closed once, one shape for a hit."""

from __future__ import annotations

import json
from pathlib import Path

from aqe.app.indexing import Freshness, ProjectIndex, hit_json
from aqe.app.project import Project
from aqe.cli import main


def test_a_search_hit_has_one_shape_from_either_door(shop: Path, capsys):
    assert main(["search", "shipping cost of an order", "--root", str(shop), "--format", "json", "-k", "3"]) == 0
    from_cli = json.loads(capsys.readouterr().out)
    with ProjectIndex(Project.load(shop)) as opened:
        from_service = [hit_json(shop, hit) for hit in opened.get().search("shipping cost of an order", 3)]
    assert from_cli == from_service
    code = next(hit for hit in from_cli if hit["kind"] != "knowledge")
    assert {"path", "uri", "range", "language"} <= set(code)
    assert code["uri"] == (shop / code["path"]).as_uri()


def test_the_index_opens_on_first_use_and_closes_once(shop: Path):
    index = ProjectIndex(Project.load(shop), Freshness.REFRESHED)
    assert index._index is None  # nothing opened for a command that never asks
    with index:
        assert index.get().store.count > 0
        assert index.get() is index.get()
    assert index._index is None
    index.close()  # closing twice is harmless


def test_knowledge_freshness_gives_failure_patterns_without_scanning_the_code(shop: Path):
    with ProjectIndex(Project.load(shop), Freshness.KNOWLEDGE) as index:
        patterns = index.similar_failures("the test fails when run after another test", 3)
        assert patterns
        assert all(record.kind == "knowledge" for record in index.get().store.records())
