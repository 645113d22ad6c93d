"""Strings that a regular expression matches, built from its parsed structure.

A function that does `re.sub(r"([A-Z]+)([A-Z][a-z])", ...)` only does its work on text such as
"ABc"; no placeholder input contains that by chance. The pattern is parsed with the standard
library's own regex parser and walked once per choice (which alternative of `a|b`, which member of
a character class), and a sample is kept only if the pattern really finds a match in it.
"""

from __future__ import annotations

import re
from typing import Any

try:  # the parser moved in Python 3.11; the old name warns there
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse  # type: ignore[no-redef]

MAX_SAMPLES = 4
_MAX_REPEAT = 3
_CATEGORY_SAMPLES = {
    "CATEGORY_DIGIT": "1", "CATEGORY_NOT_DIGIT": "a", "CATEGORY_SPACE": " ", "CATEGORY_NOT_SPACE": "a",
    "CATEGORY_WORD": "a", "CATEGORY_NOT_WORD": "-",
}  # fmt: skip
# Characters tried for a negated class (`[^a-z]`) or a not-literal, in order.
_FALLBACK_CHARACTERS = "a-_ 0Z.é"


def regex_samples(pattern: str, limit: int = MAX_SAMPLES) -> list[str]:
    """Up to `limit` different strings in which `pattern` finds a match ([] when it does not parse)."""
    try:
        compiled = re.compile(pattern)
        parsed = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError, TypeError):
        return []
    samples: list[str] = []
    for choice in range(limit * 2):
        try:
            sample = _render(list(parsed), choice, {})
        except (ValueError, RecursionError):
            continue
        if sample not in samples and compiled.search(sample) is not None:
            samples.append(sample)
        if len(samples) >= limit:
            break
    return samples


def _render(items: list[tuple[Any, Any]], choice: int, groups: dict[int, str]) -> str:
    return "".join(_render_item(str(op), value, choice, groups) for op, value in items)


def _render_item(op: str, value: Any, choice: int, groups: dict[int, str]) -> str:
    if op == "LITERAL":
        return chr(value)
    if op == "NOT_LITERAL":
        return next(c for c in _FALLBACK_CHARACTERS if ord(c) != value)
    if op == "ANY":
        return "a"
    if op == "IN":
        return _class_member(value, choice)
    if op == "CATEGORY":
        return _CATEGORY_SAMPLES.get(str(value), "a")
    if op == "BRANCH":
        alternatives = value[1]
        return _render(list(alternatives[choice % len(alternatives)]), choice // len(alternatives), groups)
    if op == "SUBPATTERN":
        group, _add, _remove, inner = value
        text = _render(list(inner), choice, groups)
        if group is not None:
            groups[group] = text
        return text
    if op in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        low, high, inner = value
        count = min(max(low, 1), high, max(low, _MAX_REPEAT))
        return "".join(_render(list(inner), choice + i, groups) for i in range(count))
    if op == "GROUPREF":
        return groups.get(value, "")
    if op == "GROUPREF_EXISTS":
        group, yes, no = value
        branch = yes if group in groups else no
        return _render(list(branch), choice, groups) if branch is not None else ""
    if op == "ATOMIC_GROUP":
        return _render(list(value), choice, groups)
    return ""  # anchors (AT) and look-arounds consume nothing; the final search decides


def _class_member(items: list[tuple[Any, Any]], choice: int) -> str:
    """One character of `[...]`: the `choice`-th member, or one outside a negated class."""
    members = [(str(op), value) for op, value in items]
    if members and members[0][0] == "NEGATE":
        rest = members[1:]
        return next((c for c in _FALLBACK_CHARACTERS if not _in_class(c, rest)), "~")
    options: list[str] = []
    for op, value in members:
        if op == "LITERAL":
            options.append(chr(value))
        elif op == "RANGE":
            options.append(chr(value[0]))
        elif op == "CATEGORY":
            options.append(_CATEGORY_SAMPLES.get(str(value), "a"))
    if not options:
        raise ValueError("no member to choose")
    return options[choice % len(options)]


def _in_class(character: str, members: list[tuple[str, Any]]) -> bool:
    code = ord(character)
    for op, value in members:
        if op == "LITERAL" and value == code:
            return True
        if op == "RANGE" and value[0] <= code <= value[1]:
            return True
        if op == "CATEGORY":
            sample = _CATEGORY_SAMPLES.get(str(value))
            if sample is not None and re.fullmatch(_CATEGORY_PATTERNS[str(value)], character):
                return True
    return False


_CATEGORY_PATTERNS = {
    "CATEGORY_DIGIT": r"\d", "CATEGORY_NOT_DIGIT": r"\D", "CATEGORY_SPACE": r"\s", "CATEGORY_NOT_SPACE": r"\S",
    "CATEGORY_WORD": r"\w", "CATEGORY_NOT_WORD": r"\W",
}  # fmt: skip
