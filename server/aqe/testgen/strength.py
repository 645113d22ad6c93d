"""Choosing among proven candidates by what they check, not only by what they reach.

A candidate that runs a line without noticing when it changes adds coverage and no protection. So the
proven candidates and the project's tests of the module run against the function's mutants (one
sandboxed session, `aqe.mutation.run`), every killing test recorded; a candidate's gain is then the
arcs it adds plus the mutants it kills that the project's tests do not, and the smallest set of
candidates covering the most gain is kept (greedy set cover, fewest lines on ties).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aqe.config import Settings
from aqe.llm.types import CancelToken
from aqe.mutation.mutants import MutationError, function_mutants
from aqe.mutation.run import MutationRunFailed, run_mutants
from aqe.sandbox.runner import SandboxRunner
from aqe.testgen.placement import Destination, build_edit
from aqe.testgen.render import TestCandidate
from aqe.testgen.target import TestTarget

if TYPE_CHECKING:
    from aqe.testgen.generate import ProvenTest

log = logging.getLogger(__name__)

Gain = tuple[str, object]
"""("arc", (from, to)) or ("mutant", id): one thing a candidate adds."""


@dataclass(frozen=True)
class MutantKills:
    total: int
    """Mutants the run could judge."""
    by_existing: frozenset[str]
    """Mutant ids the project's tests already kill (timeouts count here: no test can be credited)."""
    by_candidate: dict[str, frozenset[str]] = field(hash=False)
    """Candidate name -> ids of the mutants its tests kill."""
    seconds: float = 0.0

    def of(self, candidates: Sequence[TestCandidate]) -> frozenset[str]:
        return frozenset().union(*(self.by_candidate.get(candidate.name, frozenset()) for candidate in candidates))


def mutant_kills(
    root: Path,
    runner: SandboxRunner,
    python: str,
    settings: Settings,
    target: TestTarget,
    destination: Destination,
    candidates: Sequence[TestCandidate],
    related_tests: Sequence[str],
    cancel: CancelToken | None = None,
) -> MutantKills | None:
    """Which mutants of `target` each candidate kills, and which the project's tests (the destination
    file's and `related_tests`) kill; None when the function has no mutants or the run failed (the
    choice then falls back to coverage alone)."""
    try:
        text = (root / target.path).read_text(encoding="utf-8")
        mutants = function_mutants(target.path, text, target.qualified_name)
    except (OSError, UnicodeDecodeError, MutationError) as error:
        log.info("no mutants of %s: %s", target.qualified_name, error)
        return None
    if not mutants.mutants or not candidates:
        return None
    try:
        run = run_mutants(
            root, runner, python, target.location.module, mutants, [destination.path, *related_tests],
            files=[(destination.path, build_edit(destination, candidates).new_text)],
            import_root=target.location.import_root, every_killer=True, timeout_s=settings.sandbox_timeout_s,
            memory_bytes=settings.sandbox_memory_mb * 1024 * 1024, allow_network=settings.sandbox_allow_network,
            cancel=cancel,
        )  # fmt: skip
    except MutationRunFailed as failed:
        log.info("the mutant run for %s failed (%s); choosing by coverage alone", target.qualified_name, failed)
        return None
    owner = {name: candidate.name for candidate in candidates for name in candidate.test_names}
    existing: set[str] = set()
    by_candidate: dict[str, set[str]] = {}
    for outcome in run.outcomes:
        if outcome.status == "timeout":
            existing.add(outcome.mutant.id)
        for node_id in outcome.killed_by:
            name = _candidate_test(node_id, destination.path, owner)
            if name is None:
                existing.add(outcome.mutant.id)
            else:
                by_candidate.setdefault(name, set()).add(outcome.mutant.id)
    return MutantKills(
        run.total, frozenset(existing), {name: frozenset(ids) for name, ids in by_candidate.items()}, run.duration_s
    )


def _candidate_test(node_id: str, destination: str, owner: dict[str, str]) -> str | None:
    """The candidate a pytest node id belongs to (`tests/test_x.py::Class::test_y[1]`), or None for a
    project test."""
    path, _, name = node_id.partition("::")
    if not (path.endswith(destination) or destination.endswith(path)):
        return None
    return owner.get(name.split("[", 1)[0])


def gains(
    candidate: TestCandidate,
    reached: frozenset[tuple[int, int]],
    baseline: frozenset[tuple[int, int]],
    kills: MutantKills | None,
) -> frozenset[Gain]:
    """What `candidate` adds over the project's tests: new arcs, and mutants only it kills."""
    added: set[Gain] = {("arc", arc) for arc in reached - baseline}
    if kills is not None:
        added |= {("mutant", mutant) for mutant in kills.of([candidate]) - kills.by_existing}
    return frozenset(added)


def smallest_cover(offers: Sequence[tuple[TestCandidate, frozenset[Gain]]]) -> list[TestCandidate]:
    """Greedy set cover: the candidate adding the most not yet covered (the shortest on ties), again
    and again while one adds anything. The first chosen is the one worth most alone."""
    chosen: list[TestCandidate] = []
    covered: set[Gain] = set()
    remaining = list(offers)
    while remaining:
        candidate, offer = max(remaining, key=lambda item: (len(item[1] - covered), -item[0].lines))
        if not offer - covered:
            break
        chosen.append(candidate)
        covered |= offer
        remaining = [item for item in remaining if item[0] is not candidate]
    return chosen


def kills_summary(proven: ProvenTest | None, function: str) -> str:
    """ "kills 31 of 40 mutants of `pluralize`": the same words from the editor and the command line."""
    if proven is None or proven.mutants_killed is None or not proven.mutants_total:
        return ""
    before = proven.mutants_killed_before
    already = f" (the project's tests kill {before})" if before else ""
    return f"kills {proven.mutants_killed} of {proven.mutants_total} mutants of `{function}`{already}"
