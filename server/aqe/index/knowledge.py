"""The QE knowledge base: test patterns, quality rules, failure patterns and best practices.

aqe ships a built-in set (server/aqe/index/knowledge/*.toml, written by us); a team adds its own in
the folders named by `knowledgePaths` (default `.aqe/knowledge/`), either TOML files with
`[[entry]]` tables or Markdown files with a TOML front matter between `+++` lines:

    +++
    id = "team/no-shared-db"
    category = "aqe/failure-patterns/shared-state"
    tags = ["database"]
    +++
    # Tests must not share the staging database
    Each test gets a fresh schema from the `db` fixture ...

A team entry with the id of a built-in one replaces it. Entries live in the same vector store as the
code, under their category, so one filtered HNSW search finds "failure patterns like this one".
A broken file is reported by name and skipped; the other files still load.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

log = logging.getLogger(__name__)

CATEGORIES = ("aqe/test-patterns", "aqe/quality-rules", "aqe/failure-patterns", "aqe/best-practices")
KNOWLEDGE_KIND = "knowledge"
KEY_PREFIX = "knowledge:"
BUILTIN_PREFIX = "builtin:"
_CATEGORY = re.compile(r"^[a-z0-9][a-z0-9-]*(/[a-z0-9][a-z0-9._-]*)+$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")
_MAX_FILE_BYTES = 1_000_000
_FRONT_MATTER = re.compile(r"\A\+\+\+[ \t]*\r?\n(.*?)\r?\n\+\+\+[ \t]*(?:\r?\n|\Z)(.*)\Z", re.S)


@dataclass(frozen=True)
class KnowledgeEntry:
    id: str
    category: str
    title: str
    body: str
    tags: tuple[str, ...] = ()
    source: str = ""
    """Where it came from: `builtin:<file>` or the workspace-relative path of the team's file."""

    @property
    def key(self) -> str:
        return KEY_PREFIX + self.id

    @property
    def embedding_text(self) -> str:
        return "\n".join((self.title, " ".join(self.tags), self.body))

    @property
    def content_hash(self) -> str:
        joined = "\x1f".join((self.category, self.title, ",".join(self.tags), self.body))
        return hashlib.sha1(joined.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class KnowledgeProblem:
    source: str
    message: str

    def describe(self) -> str:
        return f"knowledge file {self.source}: {self.message}"


@dataclass(frozen=True)
class LoadedKnowledge:
    entries: tuple[KnowledgeEntry, ...]
    problems: tuple[KnowledgeProblem, ...]


def builtin_entries() -> LoadedKnowledge:
    folder = resources.files("aqe.index") / "knowledge"
    entries: list[KnowledgeEntry] = []
    problems: list[KnowledgeProblem] = []
    for item in sorted(folder.iterdir(), key=lambda i: i.name):
        if item.name.endswith(".toml"):
            source = BUILTIN_PREFIX + item.name
            found, trouble = _parse(item.read_text(encoding="utf-8"), source, toml=True)
            entries += found
            problems += trouble
    return LoadedKnowledge(tuple(entries), tuple(problems))


def load_knowledge(root: Path | None, folders: Iterable[str]) -> LoadedKnowledge:
    """Built-in entries, then the team's (same id replaces), each file's problems reported."""
    loaded = builtin_entries()
    by_id = {entry.id: entry for entry in loaded.entries}
    problems = list(loaded.problems)
    if root is not None:
        for path in _team_files(root, folders, problems):
            source = path.relative_to(root).as_posix()
            try:
                size = path.stat().st_size
                if size > _MAX_FILE_BYTES:
                    problems.append(KnowledgeProblem(source, f"{size} bytes is over the {_MAX_FILE_BYTES} limit"))
                    continue
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                problems.append(KnowledgeProblem(source, f"cannot be read ({error})"))
                continue
            found, trouble = _parse(text, source, toml=path.suffix == ".toml")
            problems += trouble
            for entry in found:
                by_id[entry.id] = entry
    for problem in problems:
        log.warning("%s", problem.describe())
    return LoadedKnowledge(tuple(by_id.values()), tuple(problems))


def _team_files(root: Path, folders: Iterable[str], problems: list[KnowledgeProblem]) -> Iterator[Path]:
    real_root = root.resolve()
    for folder in folders:
        base = (root / folder).resolve()
        if base != real_root and real_root not in base.parents:
            problems.append(KnowledgeProblem(folder, "is outside the workspace; skipped"))
            continue
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            resolved = path.resolve()
            if path.suffix in (".toml", ".md") and path.is_file() and real_root in resolved.parents:
                yield resolved


def _parse(text: str, source: str, *, toml: bool) -> tuple[list[KnowledgeEntry], list[KnowledgeProblem]]:
    problems: list[KnowledgeProblem] = []
    if toml:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            return [], [KnowledgeProblem(source, f"is not valid TOML ({error})")]
        tables = data.get("entry", [])
        if not isinstance(tables, list):
            return [], [KnowledgeProblem(source, "`entry` must be an array of tables ([[entry]])")]
    else:
        match = _FRONT_MATTER.match(text)
        if match is None:
            return [], [KnowledgeProblem(source, "has no +++ TOML front matter with id and category")]
        try:
            header = tomllib.loads(match.group(1))
        except tomllib.TOMLDecodeError as error:
            return [], [KnowledgeProblem(source, f"front matter is not valid TOML ({error})")]
        body = match.group(2).strip()
        title = header.get("title")
        if not title and body.startswith("#"):
            first, _, rest = body.partition("\n")
            title, body = first.lstrip("#").strip(), rest.strip()
        tables = [{**header, "title": title, "body": body}]
    entries = []
    for number, table in enumerate(tables, start=1):
        entry = _entry(table, source, number, problems)
        if entry is not None:
            entries.append(entry)
    return entries, problems


def _entry(table: Any, source: str, number: int, problems: list[KnowledgeProblem]) -> KnowledgeEntry | None:
    where = f"entry {number}"
    if not isinstance(table, dict):
        problems.append(KnowledgeProblem(source, f"{where} is not a table"))
        return None
    missing = [name for name in ("id", "category", "title", "body") if not isinstance(table.get(name), str)]
    if missing:
        problems.append(KnowledgeProblem(source, f"{where} lacks {', '.join(missing)} (strings)"))
        return None
    entry_id, category = table["id"].strip(), table["category"].strip()
    if not _ID.match(entry_id):
        problems.append(KnowledgeProblem(source, f"{where} has an invalid id {entry_id!r}"))
        return None
    if not _CATEGORY.match(category):
        problems.append(
            KnowledgeProblem(source, f"{where} ({entry_id}) has an invalid category {category!r}: use e.g. "
                             "aqe/failure-patterns/timing")
        )  # fmt: skip
        return None
    tags = table.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        problems.append(KnowledgeProblem(source, f"{where} ({entry_id}): tags must be a list of strings"))
        tags = []
    return KnowledgeEntry(
        id=entry_id,
        category=category,
        title=table["title"].strip(),
        body=table["body"].strip(),
        tags=tuple(tags),
        source=source,
    )
