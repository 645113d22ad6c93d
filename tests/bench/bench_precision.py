"""Precision of aqe's review findings on real projects, from hand labels; and speed next to ruff.

    python tests/bench/bench_precision.py [--dump FINDINGS.tsv] [--json OUT.json]

Every project of the corpus (`precision_corpus.py`, pinned sdists with their tests) is analysed as a
user would: `aqe analyze TREE --conventions --format json`, default settings. Each finding has a key,
`project:path:line:rule`; `precision_labels.tsv` beside this file says for a key whether a maintainer
would agree (TRUE), not (FALSE) or could go either way (DEBATABLE), with one line of why. Per rule the
table shows findings, how many are labelled, precision = TRUE / (TRUE + FALSE) and the debatable share.
The time of the analysis is compared with `ruff check --select ALL` on the same trees (ruff's speed
is the bar people know). `--dump` writes the keys and messages of every finding, for labelling.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from bench_support import machine, markdown_table
from precision_corpus import corpus_trees, test_rule_trees

LABELS = Path(__file__).with_name("precision_labels.tsv")
VERDICTS = ("TRUE", "FALSE", "DEBATABLE")
TEST_RULES = frozenset({"QE105", "QE106", "QE107", "QE108", "QE109", "QE110", "QE111"})
"""The rules also measured on the mock- and async-heavy trees of `test_rule_trees()`."""
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Labelled:
    verdict: str
    why: str


def read_labels(path: Path = LABELS) -> dict[str, Labelled]:
    labels: dict[str, Labelled] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        key, verdict, why = [*line.split("\t"), "", ""][:3]
        if verdict not in VERDICTS or not why.strip():
            raise ValueError(f"{path.name}:{number}: expected KEY<TAB>TRUE|FALSE|DEBATABLE<TAB>why, got {line!r}")
        labels[key] = Labelled(verdict, why.strip())
    return labels


def analyse(project: str, tree: Path) -> tuple[list[dict[str, object]], float]:
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "aqe", "analyze", str(tree), "--conventions", "--format", "json", "--fail-on", "never"],
        capture_output=True, text=True, check=True, cwd=tree,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    findings = json.loads(completed.stdout)["findings"]
    for finding in findings:
        finding["key"] = f"{project}:{finding['path']}:{finding['line']}:{finding['ruleId']}"
    return findings, elapsed


def ruff_seconds(tree: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(BIN / "ruff"), "check", "--select", "ALL", "--isolated", "--no-cache", "--exit-zero", "--quiet",
         str(tree)],
        capture_output=True, check=False,
    )  # fmt: skip
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--dump", type=Path, help="write every finding's key and message here (for labelling)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    labels = read_labels()
    per_rule: dict[str, Counter[str]] = defaultdict(Counter)
    dump: list[str] = []
    aqe_total = ruff_total = 0.0
    seen: set[str] = set()
    for project, tree in corpus_trees().items():
        findings, seconds = analyse(project, tree)
        aqe_total += seconds
        ruff_total += ruff_seconds(tree)
        for finding in findings:
            key = str(finding["key"])
            seen.add(key)
            label = labels.get(key)
            counts = per_rule[str(finding["ruleId"])]
            counts["findings"] += 1
            counts[label.verdict if label else "unlabelled"] += 1
            if finding["severity"] != "hint":  # what the editor shows above a hint, by default
                counts["shown"] += 1
                counts[f"shown {label.verdict if label else 'unlabelled'}"] += 1
            dump.append(f"{key}\t{label.verdict if label else ''}\t{finding['message']}")
    rows = []
    for rule in sorted(per_rule):
        c = per_rule[rule]
        judged = c["TRUE"] + c["FALSE"]
        labelled = judged + c["DEBATABLE"]
        precision = f"{c['TRUE'] / judged:.2f}" if judged else "-"
        debatable = f"{c['DEBATABLE'] / labelled:.0%}" if labelled else "-"
        shown_judged = c["shown TRUE"] + c["shown FALSE"]
        shown_precision = f"{c['shown TRUE'] / shown_judged:.2f}" if shown_judged else "-"
        rows.append([rule, c["findings"], labelled, c["TRUE"], c["FALSE"], c["DEBATABLE"], precision, debatable,
                     c["shown"], shown_precision, _share(c["shown DEBATABLE"], shown_judged)])  # fmt: skip
    totals = Counter()
    for c in per_rule.values():
        totals.update(c)
    judged = totals["TRUE"] + totals["FALSE"]
    shown_judged = totals["shown TRUE"] + totals["shown FALSE"]
    rows.append(["all", totals["findings"], judged + totals["DEBATABLE"], totals["TRUE"], totals["FALSE"],
                 totals["DEBATABLE"], f"{totals['TRUE'] / judged:.2f}" if judged else "-",
                 f"{totals['DEBATABLE'] / (judged + totals['DEBATABLE']):.0%}" if judged else "-",
                 totals["shown"], f"{totals['shown TRUE'] / shown_judged:.2f}" if shown_judged else "-",
                 _share(totals["shown DEBATABLE"], shown_judged)])  # fmt: skip
    header = ["rule", "findings", "labelled", "TRUE", "FALSE", "DEBATABLE", "precision", "debatable",
              "above hint", "precision above hint", "debatable above hint"]  # fmt: skip
    print(markdown_table(header, rows))
    extra_rows = test_rule_table(labels, seen, dump)
    stale = sorted(set(labels) - seen)
    lost = Counter(labels[key].verdict for key in stale)
    print(f"\nlabelled findings no longer reported: {len(stale)} ({dict(lost)})")
    true_labels = sum(1 for label in labels.values() if label.verdict == "TRUE")
    if true_labels:
        kept = true_labels - lost["TRUE"]
        print(f"recall on the labelled TRUE findings: {kept} of {true_labels} ({kept / true_labels:.0%})")
    ratio = aqe_total / ruff_total
    print(f"aqe analyze: {aqe_total:.2f} s; ruff check --select ALL: {ruff_total:.2f} s; ratio {ratio:.1f}x")
    print(json.dumps(machine("ruff", "tree-sitter"), indent=1))
    if args.dump:
        args.dump.write_text("\n".join(dump) + "\n", encoding="utf-8")
    if args.json:
        result = {"rows": [dict(zip(header, row, strict=True)) for row in rows], "aqe_seconds": aqe_total,
                  "ruff_seconds": ruff_total, "stale_labels": stale, "machine": machine("ruff"),
                  "test_rule_rows": extra_rows}  # fmt: skip
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


def _share(debatable: int, judged: int) -> str:
    """DEBATABLE among the labelled findings shown above hint (what a user reads as a warning)."""
    return f"{debatable / (debatable + judged):.0%}" if debatable + judged else "-"


def chances(tree: Path) -> Counter[str]:
    """What the test rules had to judge in a tree (collected tests, coroutine tests, mock assertions,
    `raises(Exception)`): a rule that stays silent there has passed over that many real shapes."""
    from aqe.parsing.document import ParsedDocument
    from aqe.parsing.languages import Language
    from aqe.review.rules.base import RuleContext
    from aqe.review.rules.python_test_mistakes import MOCK_ASSERTIONS
    from aqe.review.rules.python_test_shapes import _test_functions

    mock_call = re.compile(r"\.(?:" + "|".join(sorted(MOCK_ASSERTIONS)) + r")\(")
    counts: Counter[str] = Counter()
    for path in tree.rglob("*.py"):
        text = path.read_text(encoding="utf-8", errors="replace")
        tests = _test_functions(RuleContext(ParsedDocument.parse(str(path), text, Language.PYTHON)))
        counts["tests"] += len(tests)
        counts["async tests"] += sum(1 for t in tests if t.node.children and t.node.children[0].type == "async")
        counts["mock assertions"] += len(mock_call.findall(text))
        counts["raises(Exception)"] += len(re.findall(r"raises\((?:Base)?Exception\b", text))
    return counts


def test_rule_table(labels: dict[str, Labelled], seen: set[str], dump: list[str]) -> list[list[object]]:
    """QE105-QE111 on the extra trees: those rules' findings only, labelled in the same file."""
    per_rule: dict[str, Counter[str]] = defaultdict(Counter)
    seen_shapes: Counter[str] = Counter()
    for project, tree in test_rule_trees().items():
        seen_shapes.update(chances(tree))
        findings, _ = analyse(project, tree)
        for finding in findings:
            if finding["ruleId"] not in TEST_RULES:
                continue
            key = str(finding["key"])
            seen.add(key)
            label = labels.get(key)
            per_rule[str(finding["ruleId"])][label.verdict if label else "unlabelled"] += 1
            dump.append(f"{key}\t{label.verdict if label else ''}\t{finding['message']}")
    rows: list[list[object]] = []
    for rule in sorted(TEST_RULES):
        c = per_rule[rule]
        judged = c["TRUE"] + c["FALSE"]
        rows.append([rule, sum(c.values()), c["TRUE"], c["FALSE"], c["DEBATABLE"], c["unlabelled"],
                     f"{c['TRUE'] / judged:.2f}" if judged else "-"])  # fmt: skip
    print(f"\n{len(test_rule_trees())} mock- and async-heavy projects, test rules only:\n")
    print(markdown_table(["rule", "findings", "TRUE", "FALSE", "DEBATABLE", "unlabelled", "precision"], rows))
    print(f"shapes judged there: {dict(seen_shapes)}")
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
