"""`aqe index` and `aqe search` on a copy of the sample project."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from aqe.cli import main

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "shop"
    shutil.copytree(SHOP, root)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no user settings of the developer's
    return root


def test_index_builds_the_index_under_dot_aqe_and_reports_what_it_did(shop: Path, capsys) -> None:
    assert main(["index", str(shop), "--format", "json"]) == 0
    output = json.loads(capsys.readouterr().out)

    assert (shop / ".aqe/index/manifest.json").is_file()
    assert output["report"]["filesSeen"] == 18
    assert (
        output["report"]["units"]
        == output["index"]["categories"]["code/tests"]
        + output["index"]["categories"]["code/source"]
        + output["index"]["categories"]["code/modules"]
    )
    assert output["index"]["generation"] == 1


def test_a_second_index_run_embeds_nothing_and_keeps_the_generation(shop: Path, capsys) -> None:
    main(["index", str(shop), "--format", "json"])
    capsys.readouterr()

    assert main(["index", str(shop), "--format", "json"]) == 0
    output = json.loads(capsys.readouterr().out)

    assert output["report"]["embedded"] == 0
    assert output["index"]["generation"] == 1


def test_rebuild_starts_from_nothing(shop: Path, capsys) -> None:
    main(["index", str(shop)])
    capsys.readouterr()

    assert main(["index", str(shop), "--rebuild", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["report"]["embedded"] > 100


def test_search_builds_a_missing_index_and_answers_in_json(shop: Path, capsys) -> None:
    code = main(["search", "discount for bulk orders", "--root", str(shop), "-k", "3", "--category", "code/tests",
                 "--format", "json"])  # fmt: skip
    hits = json.loads(capsys.readouterr().out)

    assert code == 0
    assert len(hits) == 3
    assert all(hit["category"] == "code/tests" for hit in hits)
    assert hits[0]["path"] == "tests/test_pricing.py"
    assert {"score", "key", "symbol", "range", "text"} <= hits[0].keys()


def test_search_text_lists_knowledge_with_its_id(shop: Path, capsys) -> None:
    main(["search", "a test that depends on the current date", "--root", str(shop), "-k", "1",
          "--category", "aqe/failure-patterns"])  # fmt: skip

    assert "failure-patterns/time-and-date" in capsys.readouterr().out


def test_a_damaged_index_is_reported_once_and_rebuilt(shop: Path, capsys) -> None:
    main(["index", str(shop)])
    (shop / ".aqe/index/vectors-1.hnsw").write_bytes(b"\x00" * 64)
    capsys.readouterr()

    assert main(["index", str(shop), "--format", "json"]) == 0
    captured = capsys.readouterr()

    assert [line for line in captured.err.splitlines() if "the index was damaged" in line] == captured.err.splitlines()
    assert len(captured.err.splitlines()) == 1
    assert json.loads(captured.out)["report"]["embedded"] > 100
    assert list((shop / ".aqe/quarantine").iterdir())


def test_bad_arguments_are_usage_errors(shop: Path, capsys) -> None:
    assert main(["index", str(shop / "missing")]) == 2
    assert main(["search", "x", "--root", str(shop), "-k", "0"]) == 2


def test_search_refuses_an_empty_query_and_names_the_categories_when_one_is_unknown(tmp_path, capsys):
    (tmp_path / "m.py").write_text("def add(a, b):\n    return a + b\n")
    assert main(["search", "   ", "--root", str(tmp_path)]) == 2
    assert main(["search", "add", "--root", str(tmp_path), "--category", "nope"]) == 2
    err = capsys.readouterr().err
    assert "the query is empty" in err
    assert "no category 'nope'" in err and "code/source" in err
