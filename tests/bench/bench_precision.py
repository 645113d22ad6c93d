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
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from bench_support import machine, markdown_table
from precision_corpus import corpus_trees

LABELS = Path(__file__).with_name("precision_labels.tsv")
VERDICTS = ("TRUE", "FALSE", "DEBATABLE")
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
                     c["shown"], shown_precision])  # fmt: skip
    totals = Counter()
    for c in per_rule.values():
        totals.update(c)
    judged = totals["TRUE"] + totals["FALSE"]
    shown_judged = totals["shown TRUE"] + totals["shown FALSE"]
    rows.append(["all", totals["findings"], judged + totals["DEBATABLE"], totals["TRUE"], totals["FALSE"],
                 totals["DEBATABLE"], f"{totals['TRUE'] / judged:.2f}" if judged else "-",
                 f"{totals['DEBATABLE'] / (judged + totals['DEBATABLE']):.0%}" if judged else "-",
                 totals["shown"], f"{totals['shown TRUE'] / shown_judged:.2f}" if shown_judged else "-"])  # fmt: skip
    header = ["rule", "findings", "labelled", "TRUE", "FALSE", "DEBATABLE", "precision", "debatable",
              "above hint", "precision above hint"]  # fmt: skip
    print(markdown_table(header, rows))
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
                  "ruff_seconds": ruff_total, "stale_labels": stale, "machine": machine("ruff")}  # fmt: skip
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
