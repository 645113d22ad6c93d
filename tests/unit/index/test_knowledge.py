"""The QE knowledge base: the built-in seed, team files in TOML and Markdown, and broken files."""

from __future__ import annotations

from pathlib import Path

from aqe.index.knowledge import CATEGORIES, builtin_entries, load_knowledge


def test_the_builtin_seed_covers_every_category_with_unique_ids_and_no_problems() -> None:
    loaded = builtin_entries()
    ids = [entry.id for entry in loaded.entries]

    assert loaded.problems == ()
    assert len(ids) == len(set(ids)) >= 40
    for category in CATEGORIES:
        assert sum(entry.category.startswith(category + "/") for entry in loaded.entries) >= 8, category


def test_the_seed_has_a_failure_pattern_for_every_flakiness_class() -> None:
    categories = {entry.category for entry in builtin_entries().entries}

    for cause in ("timing", "randomness", "order-dependency", "shared-state", "network", "time-and-date",
                  "concurrency", "resource-leak", "floating-point"):  # fmt: skip
        assert f"aqe/failure-patterns/{cause}" in categories


def test_the_seed_documents_every_review_rule() -> None:
    from aqe.review.rules import rule_infos

    ids = {entry.id for entry in builtin_entries().entries}

    assert {f"quality-rules/{info.id}" for info in rule_infos()} <= ids


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_team_entries_in_toml_and_markdown_are_loaded_and_replace_builtins_with_the_same_id(tmp_path: Path) -> None:
    write(
        tmp_path / ".aqe/knowledge/team.toml",
        """
[[entry]]
id = "failure-patterns/fixed-sleep"
category = "aqe/failure-patterns/timing"
title = "Our take on sleeps"
body = "Use the wait_for helper from tests/support."
tags = ["sleep"]
""",
    )
    write(
        tmp_path / ".aqe/knowledge/db.md",
        """+++
id = "team/no-shared-db"
category = "aqe/failure-patterns/shared-state"
tags = ["database"]
+++
# Tests must not share the staging database

Each test gets a fresh schema from the `db` fixture.
""",
    )

    loaded = load_knowledge(tmp_path, [".aqe/knowledge"])
    by_id = {entry.id: entry for entry in loaded.entries}

    assert loaded.problems == ()
    assert by_id["failure-patterns/fixed-sleep"].title == "Our take on sleeps"
    assert by_id["failure-patterns/fixed-sleep"].source == ".aqe/knowledge/team.toml"
    team = by_id["team/no-shared-db"]
    assert team.title == "Tests must not share the staging database"
    assert team.body == "Each test gets a fresh schema from the `db` fixture."
    assert team.tags == ("database",)
    assert len(loaded.entries) == len(builtin_entries().entries) + 1


def test_a_broken_file_is_reported_by_name_and_the_rest_still_loads(tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    write(folder / "bad.toml", "[[entry]\nid = ")
    write(folder / "no-front-matter.md", "# Just a note\n")
    write(folder / "missing.toml", '[[entry]]\nid = "x/y"\ncategory = "aqe/best-practices/x"\n')
    write(folder / "category.toml", '[[entry]]\nid = "x/z"\ncategory = "Not A Category"\ntitle = "t"\nbody = "b"\n')
    write(folder / "good.toml", '[[entry]]\nid = "team/ok"\ncategory = "aqe/x/t"\ntitle = "t"\nbody = "b"\n')
    (folder / "binary.md").write_bytes(b"\xff\xfe\x00garbage")

    loaded = load_knowledge(tmp_path, ["kb"])
    problems = {problem.source: problem.message for problem in loaded.problems}

    assert "not valid TOML" in problems["kb/bad.toml"]
    assert "front matter" in problems["kb/no-front-matter.md"]
    assert "lacks title, body" in problems["kb/missing.toml"]
    assert "invalid category" in problems["kb/category.toml"]
    assert "cannot be read" in problems["kb/binary.md"]
    assert "team/ok" in {entry.id for entry in loaded.entries}


def test_a_knowledge_folder_outside_the_workspace_is_refused(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    write(tmp_path / "elsewhere/x.toml", '[[entry]]\nid = "a/b"\ncategory = "aqe/x/y"\ntitle = "t"\nbody = "b"\n')
    (workspace / "link").symlink_to(tmp_path / "elsewhere")

    outside = load_knowledge(workspace, ["../elsewhere"])
    linked = load_knowledge(workspace, ["link"])

    assert "outside the workspace" in outside.problems[-1].message
    assert "a/b" not in {entry.id for entry in outside.entries}
    assert "a/b" not in {entry.id for entry in linked.entries}


def test_an_oversized_file_is_skipped(tmp_path: Path) -> None:
    write(tmp_path / "kb/huge.md", "+++\nid = 'a/b'\ncategory = 'aqe/x/y'\n+++\n" + "x" * 1_100_000)

    loaded = load_knowledge(tmp_path, ["kb"])

    assert "over the" in loaded.problems[-1].message
