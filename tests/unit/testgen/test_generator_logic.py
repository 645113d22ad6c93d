"""The whole generator, with real sandboxed runs, on code whose logic a placeholder input misses: a
lookup table, a separator, a pair of inverse functions, a list it changes and an object's state."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aqe.config import Settings
from aqe.sandbox.runner import SandboxRunner
from aqe.testgen.generate import GenerationResult, TestGenerator
from aqe.testgen.target import find_target_by_name

WORDS = """
def ordinal(number: int) -> str:
    if number % 100 in (11, 12, 13):
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")


def camelize(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in text.split("_"))


def underscore(text: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in text).lstrip("_")


def add_tag(tags: list[str], tag: str) -> int:
    if tag not in tags:
        tags.append(tag)
    return len(tags)


class Account:
    def __init__(self) -> None:
        self.balance_cents = 0
        self.history: list[int] = []

    def deposit(self, cents: int) -> None:
        if cents <= 0:
            raise ValueError(f"a deposit must be positive, got {cents}")
        self.history.append(cents)
        self.balance_cents += cents
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "wordkit"
    (root / "src" / "wordkit").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "src" / "wordkit" / "__init__.py").write_text("")
    (root / "src" / "wordkit" / "words.py").write_text(WORDS)
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["src"]\ntestpaths = ["tests"]\n')
    return root.resolve()


def generate(root: Path, name: str) -> GenerationResult:
    path = "src/wordkit/words.py"
    text = (root / path).read_text()
    target = find_target_by_name(root, path, text, name)
    settings = Settings(test_generation_candidates=0, sandbox_timeout_s=30.0)
    return TestGenerator(root, settings, SandboxRunner(trusted=True)).generate(target, text)


def passes_in_the_suite(root: Path, result: GenerationResult) -> bool:
    assert result.proven is not None, result.reason
    path = root / result.proven.edit.path
    path.write_text(result.proven.edit.new_text)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=root, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    return done.returncode == 0


def test_every_entry_of_a_lookup_table_is_asserted_not_only_the_branches(project: Path) -> None:
    result = generate(project, "ordinal")

    body = result.proven.candidate.body if result.proven else ""
    assert all(f"== {suffix!r}" in body for suffix in ("st", "nd", "rd", "th"))
    assert "ordinal(2)" in body and "ordinal(3)" in body
    assert passes_in_the_suite(project, result)


def test_a_function_with_an_inverse_is_tested_on_the_round_trip(project: Path) -> None:
    result = generate(project, "camelize")

    body = result.proven.candidate.body if result.proven else ""
    assert 'assert underscore(result) == "ab_cd"' in body  # the separator camelize removes, put back
    assert "from wordkit.words import underscore" in result.proven.candidate.imports
    assert passes_in_the_suite(project, result)


def test_a_method_is_tested_on_the_state_it_leaves_and_the_error_it_raises(project: Path) -> None:
    result = generate(project, "Account.deposit")

    body = result.proven.candidate.body if result.proven else ""
    assert "account = Account()" in body
    assert "assert account.balance_cents == 1" in body and "assert account.history == [1]" in body
    assert 'pytest.raises(ValueError, match=r"a deposit must be positive, got 0")' in body
    assert passes_in_the_suite(project, result)


def test_a_list_the_function_appends_to_is_asserted_after_the_call(project: Path) -> None:
    result = generate(project, "add_tag")

    body = result.proven.candidate.body if result.proven else ""
    assert "tags = []" in body and "assert tags == ['abc']" in body
    assert passes_in_the_suite(project, result)
