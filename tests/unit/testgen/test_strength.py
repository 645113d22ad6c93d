"""Choosing generated tests by the mutants they kill as well as the arcs they reach."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from aqe.config import Settings
from aqe.llm.types import CancelToken, Completion, CompletionOptions, Prompt
from aqe.sandbox.runner import SandboxRunner
from aqe.testgen.generate import TestGenerator
from aqe.testgen.render import TestCandidate
from aqe.testgen.strength import MutantKills, gains, smallest_cover
from aqe.testgen.target import find_target_by_name


def candidate(name: str, lines: int = 1) -> TestCandidate:
    body = f"def {name}():\n" + "    assert True\n" * lines
    return TestCandidate(name, (name,), body, (), "values")


def test_a_candidate_gains_new_arcs_and_the_mutants_only_it_kills():
    kills = MutantKills(5, frozenset({"m1"}), {"test_a": frozenset({"m1", "m2"})})
    gained = gains(candidate("test_a"), frozenset({(1, 2), (2, 3)}), frozenset({(1, 2)}), kills)
    assert gained == {("arc", (2, 3)), ("mutant", "m2")}


def test_without_a_mutant_run_only_arcs_count():
    assert gains(candidate("test_a"), frozenset({(1, 2)}), frozenset(), None) == {("arc", (1, 2))}


def test_the_smallest_set_that_covers_the_most_is_kept():
    a, b, c = candidate("test_a"), candidate("test_b"), candidate("test_c")
    offers = [
        (a, frozenset({("mutant", "m1")})),
        (b, frozenset({("mutant", "m1"), ("mutant", "m2"), ("mutant", "m3")})),
        (c, frozenset({("mutant", "m3"), ("mutant", "m4")})),
    ]
    assert smallest_cover(offers) == [b, c]


def test_on_a_tie_the_shorter_candidate_wins():
    long, short = candidate("test_long", 5), candidate("test_short", 1)
    offers = [(long, frozenset({("mutant", "m1")})), (short, frozenset({("mutant", "m1")}))]
    assert smallest_cover(offers) == [short]


def test_nothing_gained_nothing_chosen():
    assert smallest_cover([(candidate("test_a"), frozenset())]) == []


class ScriptedModel:
    """A model whose answer the test controls exactly (the real one is exercised end to end)."""

    def __init__(self, answer: str) -> None:
        self.answer = answer

    def __call__(self, prompt: Prompt, options: CompletionOptions, cancel: CancelToken) -> Completion:
        return Completion(self.answer, 0.5, "scripted", "scripted", 0.0, 0, 0, "r")


@pytest.fixture
def weakly_tested(tmp_path: Path) -> Path:
    """Every line of `discount` runs under the project's test, and nothing it returns is checked."""
    (tmp_path / "calc.py").write_text(
        textwrap.dedent(
            """
            def discount(total: int) -> int:
                if total >= 100:
                    return total - 10
                return total
            """
        )
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_calc.py").write_text(
        "from calc import discount\n\n\ndef test_discount_runs():\n    discount(150)\n    discount(50)\n"
    )
    return tmp_path


def _generate(root: Path, *, mutants: bool):
    text = (root / "calc.py").read_text()
    target = find_target_by_name(root, "calc.py", text, "discount")
    model = ScriptedModel("100) == 90\n    assert discount(50) == 50\n")
    settings = Settings(test_generation_candidates=1, test_generation_mutants=mutants, sandbox_timeout_s=30.0)
    return TestGenerator(root, settings, SandboxRunner(trusted=True), complete=model).generate(target, text)


def test_a_test_that_reaches_nothing_new_is_kept_for_the_mutants_it_kills(weakly_tested: Path):
    result = _generate(weakly_tested, mutants=True)

    assert result.proven is not None, result.reason
    proven = result.proven
    assert proven.arcs_after == proven.arcs_before  # no new coverage at all
    # `>=` to `>`, `100` to `101`, `-` to `+`, `10` to `11`: all noticed by the new test, none by the old
    assert (proven.mutants_killed, proven.mutants_total, proven.mutants_killed_before) == (4, 4, 0)
    assert "assert discount(100) == 90" in proven.candidate.body


def test_by_coverage_alone_the_same_test_is_refused(weakly_tested: Path):
    result = _generate(weakly_tested, mutants=False)

    assert result.proven is None
    assert "none reached a line or branch" in (result.reason or "")
