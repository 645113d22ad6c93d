"""QE203's default count is McCabe's: the same number ruff's C901 reports, on real-shaped code."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language
from aqe.review.rules.base import ComplexityCounting, walk
from aqe.review.rules.complexity import cyclomatic_complexity

RUFF = Path(sys.executable).with_name("ruff")

# Shapes from real libraries: a schema field's deserializer, a date parser's token loop, a CLI's
# option resolution with a nested callback, a retrying call with try/else, a match-based dispatcher.
REAL_SHAPES = textwrap.dedent(
    """
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, (str, bytes)):
            raise self.make_error("invalid")
        try:
            value = value.decode("utf-8") if isinstance(value, bytes) else value
        except UnicodeDecodeError as error:
            raise self.make_error("invalid_utf8") from error
        items = [item.strip() for item in value.split(",") if item and not item.isspace()]
        if self.allow_none and value == "" or value is None:
            return None
        return items


    def _parse_tokens(tokens, default, dayfirst=False, yearfirst=False):
        result = {}
        skipped = []
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token.isdigit():
                if len(token) == 8 and "year" not in result:
                    result["year"], result["month"], result["day"] = token[:4], token[4:6], token[6:]
                elif len(token) in (1, 2) and dayfirst or yearfirst:
                    result.setdefault("day", token)
                else:
                    skipped.append(token)
            elif token.lower() in ("am", "pm"):
                result["ampm"] = 0 if token.lower() == "am" else 1
            elif token in ("+", "-") and i + 1 < len(tokens):
                result["tzoffset"] = int(tokens[i + 1]) * (1 if token == "+" else -1)
                i += 1
            else:
                for name in ("jan", "feb", "mar"):
                    if token.lower().startswith(name):
                        result["month"] = name
                        break
                else:
                    skipped.append(token)
            i += 1
        return {**default, **result} if result else default


    def resolve_options(params, env, ctx):
        def from_env(name):
            value = env.get(name.upper())
            if value is None:
                return None
            return value.split(":") if ":" in value else value

        resolved = {}
        for param in params:
            value = ctx.params.get(param.name)
            if value is None and param.envvar:
                value = from_env(param.envvar)
            if value is None:
                value = param.default() if callable(param.default) else param.default
            resolved[param.name] = value
        return resolved


    def call_with_retries(func, attempts, on_error=None):
        for attempt in range(attempts):
            try:
                result = func()
            except (ConnectionError, TimeoutError) as error:
                if on_error is not None:
                    on_error(error, attempt)
                continue
            except KeyboardInterrupt:
                raise
            else:
                return result
            finally:
                pass
        raise RuntimeError("out of attempts")


    def render(node, indent=0):
        match node:
            case {"type": "text", "value": value}:
                return value
            case {"type": "list", "items": items} if items:
                return "\\n".join(render(item, indent + 2) for item in items)
            case [first, *rest]:
                return render(first) + "".join(render(r) for r in rest)
            case str() | bytes():
                return str(node)
            case other:
                return repr(other)
    """
)


def _ruff_complexities(tmp_path: Path) -> dict[str, int]:
    source = tmp_path / "shapes.py"
    source.write_text(REAL_SHAPES)
    completed = subprocess.run(
        [str(RUFF), "check", "--isolated", "--no-cache", "--select", "C901", "--config",
         "lint.mccabe.max-complexity=0", "--output-format", "concise", str(source)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    found = re.findall(r"`(\w+)` is too complex \((\d+) > 0\)", completed.stdout)
    assert found, completed.stdout + completed.stderr
    return {name: int(count) for name, count in found}


def _aqe_complexities(counting: ComplexityCounting) -> dict[str, int]:
    document = ParsedDocument.parse("shapes.py", REAL_SHAPES, Language.PYTHON)
    return {
        node.child_by_field_name("name").text.decode(): cyclomatic_complexity(node, counting)
        for node in walk(document.tree.root_node)
        if node.type == "function_definition"
    }


def test_the_default_count_equals_ruffs_c901_for_every_function(tmp_path: Path) -> None:
    ruff = _ruff_complexities(tmp_path)
    assert set(ruff) == {"_deserialize", "_parse_tokens", "resolve_options", "from_env", "call_with_retries", "render"}
    assert _aqe_complexities(ComplexityCounting.MCCABE) == ruff


def test_the_extended_count_is_wider_where_boolean_operators_and_comprehensions_are(tmp_path: Path) -> None:
    ruff = _ruff_complexities(tmp_path)
    extended = _aqe_complexities(ComplexityCounting.EXTENDED)
    assert extended["_deserialize"] > ruff["_deserialize"]
    assert extended["_parse_tokens"] > ruff["_parse_tokens"]


def _function_with_branches(decisions: int) -> str:
    """A dispatch with `decisions` elif arms: McCabe count 1 + decisions."""
    arms = "\n".join(f"    {'if' if i == 0 else 'elif'} kind == {i}:\n        return {i}" for i in range(decisions))
    return f"def dispatch(kind):\n{arms}\n    return None\n"


def test_counts_just_over_the_threshold_are_hints_and_clear_excess_is_a_warning() -> None:
    from aqe.review.confidence import LOW_CONFIDENCE
    from aqe.review.rules.base import RuleContext
    from aqe.review.rules.complexity import AGREED_MARGIN, TooComplex

    def finding_for(complexity: int):
        doc = ParsedDocument.parse("src/dispatch.py", _function_with_branches(complexity - 1), Language.PYTHON)
        [finding] = TooComplex().check(RuleContext(doc))
        assert f"complexity of {complexity} " in finding.message
        return finding

    for taste in range(11, 10 + AGREED_MARGIN):
        assert finding_for(taste).confidence < LOW_CONFIDENCE, taste
    assert finding_for(10 + AGREED_MARGIN).confidence >= LOW_CONFIDENCE
    assert finding_for(25).confidence > finding_for(15).confidence


def test_a_threshold_the_team_chose_shows_every_count_above_it() -> None:
    from aqe.review.confidence import LOW_CONFIDENCE
    from aqe.review.rules.base import RuleContext, RuleOptions
    from aqe.review.rules.complexity import TooComplex

    doc = ParsedDocument.parse("src/dispatch.py", _function_with_branches(2), Language.PYTHON)
    [finding] = TooComplex().check(RuleContext(doc, RuleOptions(max_complexity=2)))
    assert "complexity of 3 (threshold 2)" in finding.message
    assert finding.confidence >= LOW_CONFIDENCE
