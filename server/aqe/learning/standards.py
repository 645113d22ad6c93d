"""What the team accepts: a posterior of acceptance per rule, convention and model-finding cluster,
derived from the feedback log (and from other teams' imported counts).

Each subject (a rule id such as `QE101`, `convention/tests.assertion-style`, `model/error-handling`)
has Beta counts. The prior is `Beta(lambda * m, lambda * (1 - m))`: `lambda` is `ewcLambda`, the
prior's weight in pseudo-observations, and `m` is the mean a curated finding starts from. A long record
of acceptances is itself a prior for the next observation, so one rejection moves the mean by about
1 / (lambda + n) and erases nothing. Counts are also kept per area (test files, other code): an
area's estimate takes the posterior from the other areas as its prior, so a team that wants a rule in
its code but not in its tests learns exactly that, while an area with no feedback follows the subject.

A subject with no feedback at all is always shown: nothing has been learned yet to hide it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aqe.learning.events import ACCEPT, APPLY, REJECT, RESET, SUPPRESS, UNDO, FeedbackEvent

PRIOR_MEAN = 0.9
"""Where a finding kind starts: the rules are curated, so the prior expects most to be wanted. With
ewcLambda 4 and qualityThreshold 0.7 a fresh rule survives one rejection and is hidden after two."""

AREAS = ("tests", "code")


@dataclass
class Counts:
    accepted: float = 0.0
    rejected: float = 0.0
    suppressed: int = 0

    @property
    def observations(self) -> float:
        return self.accepted + self.rejected

    def add(self, other: Counts) -> None:
        self.accepted += other.accepted
        self.rejected += other.rejected
        self.suppressed += other.suppressed

    def copy(self) -> Counts:
        return Counts(self.accepted, self.rejected, self.suppressed)

    def to_json(self) -> dict[str, float | int]:
        return {"accepted": _number(self.accepted), "rejected": _number(self.rejected), "suppressed": self.suppressed}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Counts:
        return cls(
            accepted=_non_negative(data.get("accepted", 0), "accepted"),
            rejected=_non_negative(data.get("rejected", 0), "rejected"),
            suppressed=int(_non_negative(data.get("suppressed", 0), "suppressed")),
        )


def posterior_mean(counts: Counts, prior_mean: float, prior_strength: float) -> float:
    """Mean of Beta(prior_strength * prior_mean + accepted, prior_strength * (1 - prior_mean) + rejected)."""
    total = prior_strength + counts.observations
    if total <= 0:
        return prior_mean
    return (prior_strength * prior_mean + counts.accepted) / total


@dataclass
class SubjectRecord:
    """One subject's counts, overall and per area."""

    subject: str
    source: str = "rule"
    total: Counts = field(default_factory=Counts)
    areas: dict[str, Counts] = field(default_factory=dict)

    def area(self, name: str) -> Counts:
        return self.areas.setdefault(name, Counts())

    def add(self, other: SubjectRecord) -> None:
        self.total.add(other.total)
        for name, counts in other.areas.items():
            self.area(name).add(counts)
        if self.source == "rule" and other.source != "rule":
            self.source = other.source

    def copy(self) -> SubjectRecord:
        return SubjectRecord(
            self.subject, self.source, self.total.copy(), {name: c.copy() for name, c in self.areas.items()}
        )


@dataclass(frozen=True)
class Estimate:
    """The estimated acceptance of a subject (in an area) and whether its findings are shown."""

    subject: str
    acceptance: float
    observations: float
    shown: bool


class Standards:
    """Posteriors over a set of subject records; pure arithmetic, no I/O."""

    def __init__(
        self,
        records: Mapping[str, SubjectRecord],
        *,
        prior_strength: float,
        threshold: float,
        prior_mean: float = PRIOR_MEAN,
    ) -> None:
        self.records = dict(records)
        self.prior_strength = prior_strength
        self.threshold = threshold
        self.prior_mean = prior_mean

    def subject_acceptance(self, subject: str) -> float:
        record = self.records.get(subject)
        if record is None:
            return self.prior_mean
        return posterior_mean(record.total, self.prior_mean, self.prior_strength)

    def estimate(self, subject: str, area: str | None = None) -> Estimate:
        record = self.records.get(subject)
        if record is None or record.total.observations == 0:
            return Estimate(subject, self.prior_mean, 0.0, True)
        acceptance = self.subject_acceptance(subject)
        observations = record.total.observations
        counts = record.areas.get(area) if area is not None else None
        if counts is not None and counts.observations:
            # The posterior from the other areas is this area's prior: evidence from elsewhere counts,
            # the area's own evidence counts more as it accumulates, and none is counted twice.
            elsewhere = Counts(record.total.accepted - counts.accepted, record.total.rejected - counts.rejected)
            prior = posterior_mean(elsewhere, self.prior_mean, self.prior_strength)
            acceptance = posterior_mean(counts, prior, self.prior_strength)
        return Estimate(subject, acceptance, observations, acceptance >= self.threshold)

    def shown(self, subject: str, area: str | None = None) -> bool:
        return self.estimate(subject, area).shown


def fold_events(
    events: Iterable[FeedbackEvent], *, subjects_of_interest: str | None = None
) -> dict[str, SubjectRecord]:
    """Counts per subject from the log, oldest event first. Events about test generation count too
    (subject `testgen`); `subjects_of_interest` keeps only subjects with that prefix."""
    records: dict[str, SubjectRecord] = {}
    for event in events:
        subject = event.subject
        if not subject or (subjects_of_interest is not None and not subject.startswith(subjects_of_interest)):
            continue
        if event.kind == RESET:
            records.pop(subject, None)
            continue
        record = records.get(subject)
        if record is None:
            record = records[subject] = SubjectRecord(subject, str(event.details.get("source") or _source_of(subject)))
        area_name = str(event.details.get("area") or "")
        area = record.area(area_name) if area_name in AREAS else None
        for counts in (record.total, area):
            if counts is None:
                continue
            if event.kind in (ACCEPT, APPLY):
                counts.accepted += 1
            elif event.kind == REJECT:
                counts.rejected += 1
            elif event.kind == UNDO:
                counts.accepted = max(0.0, counts.accepted - 1)
                counts.rejected += 1
            elif event.kind == SUPPRESS:
                counts.suppressed += 1
    return records


def _source_of(subject: str) -> str:
    if subject.startswith("convention/"):
        return "convention"
    if subject.startswith("model/"):
        return "model"
    if subject == "testgen":
        return "testgen"
    return "rule"


def merge_records(*groups: Mapping[str, SubjectRecord]) -> dict[str, SubjectRecord]:
    merged: dict[str, SubjectRecord] = {}
    for group in groups:
        for subject, record in group.items():
            if subject in merged:
                merged[subject].add(record)
            else:
                merged[subject] = record.copy()
    return merged


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 4)


def _non_negative(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise ValueError(f"{name} must be a non-negative finite number, not {value!r}")
    return float(value)
