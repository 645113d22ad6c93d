"""What a rule finding's `confidence` means: how likely a maintainer is to agree with it.

Each rule starts from its precision measured on the labelled corpus (tests/bench/precision_labels.tsv:
findings on real projects nobody here wrote, judged TRUE / FALSE / DEBATABLE by reading the code),
as a posterior mean: (TRUE + 1.5) / (TRUE + FALSE + 2), a Beta prior worth two labels whose mean is
`UNMEASURED_PRIOR`, so a rule with few labels stays near what an unmeasured rule is given. The rule
then shifts that prior, in log-odds, by the evidence it saw (QE203: how far above the threshold;
QE101: an exception built but never raised). Findings under
`LOW_CONFIDENCE` (no more likely right than a rule nothing is known about) are shown as hints unless
the user chose the rule's severity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

UNMEASURED_PRIOR = 0.75
_PRIOR_WEIGHT = 2.0
LOW_CONFIDENCE = UNMEASURED_PRIOR


@dataclass(frozen=True)
class MeasuredPrecision:
    """Hand labels of one rule's findings on the corpus (see docs/benchmarks.md for the run)."""

    true: int
    false: int
    debatable: int

    @property
    def prior(self) -> float:
        """Only TRUE and FALSE judge a rule; DEBATABLE labels say nothing either way."""
        return (self.true + _PRIOR_WEIGHT * UNMEASURED_PRIOR) / (self.true + self.false + _PRIOR_WEIGHT)


RULE_PRECISION: dict[str, MeasuredPrecision] = {
    # tests/bench/bench_precision.py on the 10 PyPI + 5 npm corpus, 2026-12-04 (docs/benchmarks.md).
    "QE101": MeasuredPrecision(true=2, false=1, debatable=5),
    "QE103": MeasuredPrecision(true=0, false=0, debatable=3),
    "QE106": MeasuredPrecision(true=1, false=0, debatable=0),
    "QE201": MeasuredPrecision(true=0, false=2, debatable=1),
    "QE202": MeasuredPrecision(true=0, false=0, debatable=2),
    "QE203": MeasuredPrecision(true=37, false=5, debatable=43),
    "QE205": MeasuredPrecision(true=42, false=0, debatable=0),
    "QE301": MeasuredPrecision(true=1, false=0, debatable=0),
}
"""Measured on the labelled corpus; a rule absent here did not fire there (QE102, QE104, QE204 after
this round of fixes; QE105, QE107-QE111 neither there nor on nine mock- and async-heavy suites; QE302
and QE303 had nothing to find in the tape suites) and starts from `UNMEASURED_PRIOR`."""


def prior(rule_id: str) -> float:
    measured = RULE_PRECISION.get(rule_id)
    return measured.prior if measured is not None else UNMEASURED_PRIOR


def confidence(rule_id: str, evidence: float = 0.0) -> float:
    """The rule's prior moved by `evidence` log-odds (positive: stronger than usual)."""
    p = min(max(prior(rule_id), 1e-6), 1 - 1e-6)
    shifted = math.log(p / (1 - p)) + evidence
    return round(1 / (1 + math.exp(-shifted)), 4)
