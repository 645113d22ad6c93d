"""The tables docs/rules.md shows after the rules: other tools' equivalent suppressions and the
precision each rule measured on the labelled corpus. Generated, so docs and code cannot drift."""

from __future__ import annotations

from aqe.review.confidence import LOW_CONFIDENCE, RULE_PRECISION, UNMEASURED_PRIOR
from aqe.review.suppression import EQUIVALENT_SUPPRESSIONS


def _codes(names: tuple[str, ...]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def rules_markdown_appendix() -> list[str]:
    lines = [
        "",
        "## Equivalent suppressions",
        "",
        "A finding is not reported when its line already silences the same check for another tool: the",
        "team has reviewed that line. A bare `# noqa` counts for every rule with a ruff/flake8 code below.",
        "ESLint's `eslint-disable-line` counts on the line, `eslint-disable-next-line` on the line above.",
        "",
        "| rule | `# noqa:` codes (ruff, flake8) | `# pylint: disable=` | `eslint-disable-line` |",
        "|---|---|---|---|",
    ]
    for rule_id, equivalents in sorted(EQUIVALENT_SUPPRESSIONS.items()):
        lines.append(
            f"| {rule_id} | {_codes(equivalents.noqa)} | {_codes(equivalents.pylint)} | {_codes(equivalents.eslint)} |"
        )
    lines += [
        "",
        "## Measured precision and confidence",
        "",
        "Hand labels of every finding on ten real projects (docs/benchmarks.md, `tests/bench/bench_precision.py`):",
        "precision = TRUE / (TRUE + FALSE). A finding's `confidence` starts from (TRUE + 1.5) / (TRUE + FALSE + 2)",
        f"and moves with the evidence the rule saw; under {LOW_CONFIDENCE} it is shown as a hint unless the",
        f"`rules` setting names the rule. A rule without labels starts at {UNMEASURED_PRIOR}.",
        "",
        "| rule | TRUE | FALSE | DEBATABLE | precision | prior confidence |",
        "|---|---|---|---|---|---|",
    ]
    for rule_id, measured in sorted(RULE_PRECISION.items()):
        judged = measured.true + measured.false
        precision = f"{measured.true / judged:.2f}" if judged else "-"
        lines.append(
            f"| {rule_id} | {measured.true} | {measured.false} | {measured.debatable} | {precision} | "
            f"{measured.prior:.2f} |"
        )
    from aqe.review.rules import rule_infos

    silent = [info.id for info in rule_infos() if info.id not in RULE_PRECISION]
    lines += [
        "",
        f"No finding to label on the corpus, so no measured precision yet: {', '.join(silent)}. "
        "QE105-QE111 were also run on nine mock- and async-heavy suites without a finding (docs/benchmarks.md); "
        "their unit tests specify what they report and what they must not.",
    ]
    return lines
