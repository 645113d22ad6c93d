"""`aqe flaky report`: the verdicts as text for people, JSON for scripts, SARIF for code scanning."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aqe.flaky.analysis import TestVerdict
from aqe.flaky.scoring import Verdict

JSON_VERSION = 1
_ORDER = {Verdict.FLAKY: 0, Verdict.FAILING: 1, Verdict.UNKNOWN: 2, Verdict.STABLE: 3}


def ordered(verdicts: Sequence[TestVerdict]) -> list[TestVerdict]:
    return sorted(verdicts, key=lambda v: (_ORDER[v.verdict], -v.score.failure_rate, v.test_id))


def render_text(
    verdicts: Sequence[TestVerdict], *, show_all: bool = False, explanations: dict[str, str] | None = None
) -> str:
    lines = []
    for verdict in ordered(verdicts):
        if verdict.verdict is Verdict.STABLE and not show_all:
            continue
        lines.append(f"{verdict.test_id}  {verdict.message()}")
        advice = verdict.advice()
        if verdict.verdict is Verdict.FLAKY and advice:
            lines.append(f"    fix: {advice}")
        if verdict.verdict is Verdict.FLAKY and verdict.similar:
            lines.append(f"    like: {verdict.similar[0]}")
        if explanations and verdict.test_id in explanations:
            lines.extend(f"    model: {line}" for line in explanations[verdict.test_id].strip().splitlines())
    counts = {kind: sum(1 for v in verdicts if v.verdict is kind) for kind in Verdict}
    lines.append(
        f"{counts[Verdict.FLAKY]} flaky, {counts[Verdict.FAILING]} failing, {counts[Verdict.STABLE]} stable, "
        f"{counts[Verdict.UNKNOWN]} with too few runs, of {len(verdicts)} tests"
    )
    return "\n".join(lines) + "\n"


def json_document(
    verdicts: Sequence[TestVerdict], root: Path, explanations: dict[str, str] | None = None
) -> dict[str, Any]:
    tests = []
    for verdict in ordered(verdicts):
        score = verdict.score
        entry: dict[str, Any] = {
            "testId": verdict.test_id,
            "file": score.file,
            "line": verdict.definition.start.line + 1 if verdict.definition else None,
            "verdict": verdict.verdict.value,
            "runs": score.runs,
            "failures": score.failures,
            "flips": score.flips,
            "failureRate": round(score.failure_rate, 4),
            "interval": [round(score.interval.low, 4), round(score.interval.high, 4)],
            "confidence": score.confidence,
            "codeVersion": score.code_version,
            "byKind": {kind: {"runs": c.runs, "failures": c.failures} for kind, c in sorted(score.by_kind.items())},
            "cause": verdict.cause.value if verdict.cause else None,
            "causeConfidence": verdict.classification.confidence if verdict.classification else None,
            "evidence": list(verdict.classification.evidence) if verdict.classification else [],
            "causeDecidedBy": verdict.classification.decided_by if verdict.classification else None,
            "orderCulprit": verdict.order.culprit if verdict.order else None,
            "advice": verdict.advice(),
            "similarPatterns": list(verdict.similar),
            "message": verdict.message(),
        }
        if explanations and verdict.test_id in explanations:
            entry["modelExplanation"] = explanations[verdict.test_id]
        tests.append(entry)
    return {"version": JSON_VERSION, "root": Path(os.path.abspath(root)).as_posix(), "tests": tests}


def render_json(verdicts: Sequence[TestVerdict], root: Path, explanations: dict[str, str] | None = None) -> str:
    return json.dumps(json_document(verdicts, root, explanations), indent=2, ensure_ascii=False) + "\n"
