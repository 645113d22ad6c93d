"""The registry of review rules: every rule module contributes its `RULES` list here."""

from __future__ import annotations

from functools import cache

from aqe.review.rules import js_tests, python_code, python_test_mistakes, python_test_runs, python_tests
from aqe.review.rules.base import Rule, RuleInfo


@cache
def all_rules() -> tuple[Rule, ...]:
    rules: list[Rule] = [
        cls()
        for module in (python_tests, python_test_mistakes, python_test_runs, python_code, js_tests)
        for cls in module.RULES
    ]
    ids = [r.info.id for r in rules] + [r.info.name for r in rules]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise RuntimeError(f"duplicate rule ids or names: {sorted(duplicates)}")
    return tuple(rules)


def rule_infos() -> tuple[RuleInfo, ...]:
    return tuple(r.info for r in all_rules())
