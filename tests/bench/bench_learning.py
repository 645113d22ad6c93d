"""Learning the team's standards, measured with a simulated team on code we did not write.

The findings are the real rule and convention findings of released PyPI source distributions
(boltons, toolz, more-itertools, humanize by default; fetched once with pip into
~/.cache/aqe/bench-sdists, as bench_retrieval.py does). A scripted reviewer with a hidden
preference profile (which rules and conventions the team wants, per area: test files or other code)
answers the findings aqe shows it, one at a time, in a random order drawn with replacement (new code
keeps producing findings like these): a wanted finding with a fix is applied (accept), a wanted one
without a fix is mostly fixed by hand (which the server records as an acceptance), else left (no
event), sometimes ignored here, and rarely rejected by mistake; an unwanted one is rejected ("Not
our standard") or ignored here. Every answer goes through the real feedback log, the real state fold
and the real filter.

After 0, 50, 200 and 500 feedback events, every finding of the code bases is judged: precision is
the share of shown findings the profile wants, recall the share of wanted findings still shown. The
same run with learning off shows everything. Goal: precision >= 0.9 with recall >= 0.9 after 200.

`--model-review` also runs the model review (the real default model, through the router) over a set
of functions with seeded defects and clean ones, and reports its precision and recall at the
qualityThreshold and before it.

    .venv/bin/python tests/bench/bench_learning.py [--seeds 5] [--model-review] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import textwrap
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_retrieval import fetch_sdist
from bench_support import machine

from aqe.config import Settings
from aqe.engine import Engine
from aqe.findings import Finding
from aqe.learning.events import FeedbackEvent
from aqe.learning.filtering import FindingFilter, LearningSettings, area_of
from aqe.learning.state import LearningStore
from aqe.review.conventions import WorkspaceConventions, deviations
from aqe.workspace import Workspace

PACKAGES = ("boltons==26.2.0", "toolz==1.2.0", "more-itertools==11.2.1", "humanize==4.17.0")
CHECKPOINTS = (0, 50, 200, 500)

# The hidden profile: True = the team wants it, False = it does not; per (subject, area), with a
# per-subject default. Unlisted subjects are wanted.
PROFILE: dict[str, dict[str, bool]] = {
    "QE203": {"code": False, "tests": False},  # complexity: the team does not care
    "QE205": {"code": False, "tests": False},  # TODO comments are how this team tracks work
    "QE201": {"code": True, "tests": False},  # swallowed exceptions matter in code, not in test helpers
    "QE104": {"code": True, "tests": True},
    "convention/naming.classes": {"code": False, "tests": False},  # lowercase classes are deliberate
    "convention/docstrings.coverage": {"code": False, "tests": False},
    "convention/docstrings.style": {"code": False, "tests": False},
}


@dataclass(frozen=True)
class Item:
    finding: Finding
    relative: str
    package: str

    @property
    def area(self) -> str:
        return area_of(self.relative)

    @property
    def wanted(self) -> bool:
        return PROFILE.get(self.finding.rule_id, {}).get(self.area, True)


def collect(requirement: str, settings: Settings) -> list[Item]:
    root = fetch_sdist(requirement).resolve()
    engine = Engine(settings, [root])
    items = []
    for analysis in engine.analyze_paths():
        for finding in analysis.findings:
            items.append(Item(finding, Path(finding.path).resolve().relative_to(root).as_posix(), requirement))
    miner = WorkspaceConventions(root, Workspace((root,), ()))
    miner.scan()
    for relative, observations in miner._by_file.items():
        for finding in deviations(miner.profile, relative, observations, min_share=settings.convention_min_support,
                                  min_samples=settings.convention_min_samples):  # fmt: skip
            items.append(Item(finding, relative, requirement))
    return items


def respond(item: Item, rng: random.Random, fixed_by_hand: bool = True) -> str | None:
    """The reviewer's answer: an event kind, or None for no feedback (left for later)."""
    draw = rng.random()
    if item.wanted:
        if item.finding.fix is not None:
            return "accept" if draw < 0.95 else "suppress"
        # Fixed by hand (the server records that as an acceptance), left for later, ignored here, or
        # rejected by mistake.
        fixed = "accept" if fixed_by_hand else None
        return fixed if draw < 0.6 else None if draw < 0.9 else "suppress" if draw < 0.98 else "reject"
    return "reject" if draw < 0.85 else "suppress"


def score(items: list[Item], rules: FindingFilter | None) -> dict[str, float]:
    shown = [item for item in items if rules is None or rules.decide(item.finding, item.relative).shown]
    wanted = [item for item in items if item.wanted]
    shown_wanted = sum(item.wanted for item in shown)
    return {
        "shown": len(shown),
        "precision": round(shown_wanted / len(shown), 4) if shown else 1.0,
        "recall": round(shown_wanted / len(wanted), 4) if wanted else 1.0,
    }


def simulate(
    items: list[Item], seed: int, learning: LearningSettings, fixed_by_hand: bool = True
) -> dict[int, dict[str, float]]:
    rng = random.Random(seed)
    results: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="aqe-bench-learning-") as folder:
        store = LearningStore(Path(folder), ".aqe")
        rules = FindingFilter(store.compute(), learning)
        events = 0
        draws = 0
        results[0] = score(items, rules)
        while events < CHECKPOINTS[-1] and draws < 200_000:
            draws += 1
            item = rng.choice(items)
            if not rules.decide(item.finding, item.relative).shown:
                continue
            kind = respond(item, rng, fixed_by_hand)
            if kind is None:
                continue
            details = {"source": item.finding.source.value, "path": item.relative, "area": item.area,
                       "message": item.finding.message}  # fmt: skip
            store.log.record(FeedbackEvent(kind, item.finding.rule_id, details))
            events += 1
            rules = FindingFilter(store.compute(), learning)
            if events in CHECKPOINTS:
                results[events] = {**score(items, rules), "draws": draws}
    return results


# --- the model review on seeded defects ---------------------------------------------------------------

SEEDED: list[tuple[str, int | None]] = [
    ("def average(values):\n    return sum(values) / len(values)\n", 2),
    ("def add_tag(tag, tags=[]):\n    tags.append(tag)\n    return tags\n", 1),
    ("def read_config(path):\n    try:\n        return open(path).read()\n    except Exception:\n        pass\n", 4),
    ("def find_user(db, name):\n    return db.execute(\"SELECT * FROM users WHERE name = '\" + name + \"'\")\n", 2),
    ("def last_item(items):\n    return items[len(items)]\n", 2),
    ("def is_adult(age):\n    if age > 18:\n        return True\n    return False\n", 2),
    ("def countdown(n):\n    while n > 0:\n        print(n)\n", 2),
    ("def percent(part, whole):\n    return part / whole * 100\n", 2),
    ("def load(path):\n    handle = open(path)\n    data = handle.read()\n    return data\n", 2),
    ("def same_price(a, b):\n    return a * 1.1 == b * 1.1\n", 2),
    ("def run(cmd):\n    import os\n    os.system(\"sh -c \" + cmd)\n", 3),
    ("def first_word(text):\n    return text.split(' ')[0] if text else text.split(' ')[1]\n", 2),
    ("def clamp(value, low, high):\n    return max(low, min(value, high))\n", None),
    ("def full_name(first, last):\n    return f\"{first} {last}\".strip()\n", None),
    ("def total(prices):\n    return sum(prices)\n", None),
    ("def is_even(number):\n    return number % 2 == 0\n", None),
    ("def greet(name):\n    return 'Hello, ' + name\n", None),
    ("def unique(items):\n    return sorted(set(items))\n", None),
]


def model_review(threshold: float) -> dict[str, Any]:
    from aqe.llm.factory import build_router
    from aqe.parsing.document import ParsedDocument
    from aqe.parsing.languages import Language
    from aqe.review.model_review import ReviewContext, review, review_targets

    router = build_router(Settings(context_size=2048), None, install_guard=False)
    rows = []
    started = time.perf_counter()
    try:
        for number, (code, defect_line) in enumerate(SEEDED):
            document = ParsedDocument.parse(f"src/seeded_{number}.py", textwrap.dedent(code), Language.PYTHON)
            (target,) = review_targets(document)
            findings = review(target, ReviewContext(), router.complete)
            for finding in findings:
                line = finding.span.start.line - target.start_line + 1
                correct = defect_line is not None and abs(line - defect_line) <= 1
                rows.append({"function": number, "defective": defect_line is not None, "correct": correct,
                             "confidence": finding.confidence, "rule": finding.rule_id})  # fmt: skip
            if not findings:
                rows.append({"function": number, "defective": defect_line is not None, "correct": None})
    finally:
        router.close()
    seconds = time.perf_counter() - started
    defects = sum(1 for _, line in SEEDED if line is not None)

    def figures(minimum: float) -> dict[str, Any]:
        shown = [r for r in rows if r.get("confidence") is not None and r["confidence"] >= minimum]
        found = {r["function"] for r in shown if r["correct"]}
        return {"shown": len(shown), "precision": round(sum(bool(r["correct"]) for r in shown) / len(shown), 4)
                if shown else None, "recall": round(len(found) / defects, 4)}  # fmt: skip

    return {"functions": len(SEEDED), "defects": defects, "seconds": round(seconds, 1),
            "atThreshold": figures(threshold), "beforeThreshold": figures(0.0)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", nargs="+", default=list(PACKAGES))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--ewc-lambda", type=float, nargs="+", default=[4.0])
    parser.add_argument("--model-review", action="store_true")
    parser.add_argument(
        "--no-fixed-by-hand", action="store_true", help="ablation: the server does not count fixes by hand"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    settings = Settings()
    items = [item for requirement in args.packages for item in collect(requirement, settings)]
    by_subject = Counter((item.finding.rule_id, item.area, item.wanted) for item in items)
    results: dict[str, Any] = {
        "machine": machine("llama-cpp-python"),
        "packages": args.packages,
        "findings": len(items),
        "wanted": sum(item.wanted for item in items),
        "subjects": [
            {"subject": s, "area": a, "wanted": w, "findings": n} for (s, a, w), n in sorted(by_subject.items())
        ],
        "runs": {},
    }
    off = score(items, None)
    print(f"{len(items)} findings, {results['wanted']} wanted; learning off: {off}", file=sys.stderr)
    rows = [("off", "-", *(f"{off['precision']:.3f} / {off['recall']:.3f}" for _ in CHECKPOINTS))]
    for strength in args.ewc_lambda:
        learning = LearningSettings(True, settings.quality_threshold, strength, settings.rejected_similarity)
        runs = [simulate(items, seed, learning, not args.no_fixed_by_hand) for seed in range(args.seeds)]
        mean = {
            checkpoint: {key: round(sum(run[checkpoint][key] for run in runs if checkpoint in run) /
                                    sum(1 for run in runs if checkpoint in run), 4)
                         for key in ("precision", "recall", "shown")}
            for checkpoint in CHECKPOINTS
        }  # fmt: skip
        worst = {checkpoint: {key: min(run[checkpoint][key] for run in runs if checkpoint in run)
                              for key in ("precision", "recall")} for checkpoint in CHECKPOINTS}  # fmt: skip
        results["runs"][f"ewcLambda={strength}"] = {"mean": mean, "worst": worst, "seeds": runs}
        rows.append((f"on, ewcLambda {strength:g}", f"{args.seeds} seeds",
                     *(f"{mean[c]['precision']:.3f} / {mean[c]['recall']:.3f}" for c in CHECKPOINTS)))  # fmt: skip
        rows.append(("  worst seed", "",
                     *(f"{worst[c]['precision']:.3f} / {worst[c]['recall']:.3f}" for c in CHECKPOINTS)))  # fmt: skip
    if args.model_review:
        results["modelReview"] = model_review(settings.quality_threshold)
    print(f"Machine: {json.dumps(results['machine'])}\n")
    header = ("learning", "runs", *(f"after {c} events (precision / recall)" for c in CHECKPOINTS))
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    if "modelReview" in results:
        print(f"\nModel review on seeded defects: {json.dumps(results['modelReview'])}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()


