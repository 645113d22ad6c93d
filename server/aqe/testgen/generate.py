"""Generate a test that is proven: it passes, passes again, and reaches lines or branches of the
function that the project's tests did not reach.

    context -> candidates (model continuations or chats; model-free calls observed by running) ->
    one run of them all with per-test coverage, twice -> repair of near misses -> the best proven one

The model's candidates and the model-free ones compete on the same terms; the winner is the one that
adds the most coverage, then the shortest. Everything that runs, runs in the sandbox; the workspace
is only read. Blocking from start to end: the language server calls it from a worker thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from aqe.config import Settings
from aqe.llm.types import CancelToken, Completion, CompletionOptions, Prompt, ProviderError
from aqe.sandbox.pytest_command import PLUGINS_DIR, project_python
from aqe.sandbox.runner import SandboxRefused, SandboxRunner
from aqe.testgen.layout import TestConventions, learn_conventions
from aqe.testgen.model_tests import build_prompt, read_candidates, variants
from aqe.testgen.placement import Destination, TestFileEdit, build_edit, choose_destination
from aqe.testgen.probe import PROBE_FILE, PROBE_PREFIX, greedy_cover, probe_module, read_observations
from aqe.testgen.render import TestCandidate, render_pytest, render_unittest
from aqe.testgen.repair import instrument_assertions, observed_assertions, rewrite_assertions
from aqe.testgen.target import TestTarget
from aqe.testgen.validate import RunFailed, TestRun, lines_of, run_with_coverage, sandbox_path
from aqe.testgen.values import candidate_calls, value_context
from aqe.workspace import Workspace

log = logging.getLogger(__name__)

Complete = Callable[[Prompt, CompletionOptions, CancelToken], Completion]
SimilarTests = Callable[[TestTarget], list[str]]
Progress = Callable[[str], None]

_RUNS_TO_PASS = 2


class GenerationCancelled(Exception):
    pass


@dataclass(frozen=True)
class CandidateReport:
    name: str
    generator: str
    passed_runs: int
    arcs_gained: int
    lines: int
    repaired: bool = False
    note: str = ""


@dataclass(frozen=True)
class ProvenTest:
    candidate: TestCandidate
    edit: TestFileEdit
    arcs_before: int
    arcs_after: int
    arcs_in_function: int | None
    lines_gained: tuple[int, ...]
    runs: int
    repaired: bool


@dataclass(frozen=True)
class GenerationResult:
    target: TestTarget
    proven: ProvenTest | None
    reason: str | None
    """Why no test could be proven (fit to show), when none was."""
    candidates: tuple[CandidateReport, ...] = ()
    seconds: float = 0.0
    conventions: str = ""
    network_isolated: bool = False
    timings: dict[str, float] = field(default_factory=dict, hash=False)


@dataclass
class _Pool:
    candidates: list[TestCandidate] = field(default_factory=list)
    repaired: set[str] = field(default_factory=set)


class TestGenerator:
    def __init__(
        self,
        root: Path,
        settings: Settings,
        runner: SandboxRunner,
        *,
        complete: Complete | None = None,
        similar_tests: SimilarTests | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        self.root = root
        self.settings = settings
        self.runner = runner
        self.complete = complete
        self.similar_tests = similar_tests
        self.progress = progress or (lambda _message: None)
        self.cancel = cancel or CancelToken()
        self.workspace = Workspace((root,), settings.exclude)
        self.python = project_python(root)
        self.timings: dict[str, float] = {}

    def generate(self, target: TestTarget, module_text: str) -> GenerationResult:
        started = time.monotonic()
        try:
            result = self._generate(target, module_text)
        except GenerationCancelled:
            result = GenerationResult(target, None, "cancelled")
        except SandboxRefused as refused:
            result = GenerationResult(target, None, str(refused))
        except RunFailed as failed:
            result = GenerationResult(target, None, str(failed))
        return replace(result, seconds=time.monotonic() - started, timings=dict(self.timings))

    # --- the steps ----------------------------------------------------------------------------

    def _generate(self, target: TestTarget, module_text: str) -> GenerationResult:
        self._step("searching", "reading the project's test conventions")
        conventions = learn_conventions(self.workspace, self.root)
        destination = choose_destination(self.root, self.workspace, target, conventions)
        taken = set(destination.taken_names)
        pool = _Pool()

        self._step("running", "observing the code with candidate inputs")
        calls = candidate_calls(value_context(self.root, target, module_text, conventions.fixtures))
        probe = self._run(target, destination, [], probe=probe_module(target, calls) if calls else None)
        baseline = self._baseline_arcs(probe, destination)
        observations = read_observations(probe.probe_output)
        if calls and not observations and probe.messages:
            # Nothing was observed and pytest reported errors: the module could not even be imported
            # (a missing dependency, a script with side effects at import).
            reason = next(iter(probe.messages.values())).strip().splitlines()
            detail = reason[-1][:300] if reason else "unknown error"
            return GenerationResult(target, None, f"`{target.location.module}` could not be imported and run: {detail}")
        by_call = {
            int(name.removeprefix(PROBE_PREFIX)): arcs
            for name, arcs in probe.arcs.items()
            if name.startswith(PROBE_PREFIX)
        }
        chosen = greedy_cover(by_call, baseline, [n for n, seen in observations.items() if seen.assertable])
        cases = [(calls[n], observations[n]) for n in chosen if n < len(calls)]
        render = render_unittest if conventions.framework == "unittest" else render_pytest
        values_candidate = render(target, cases, taken) if cases else None
        if values_candidate is not None:
            pool.candidates.append(values_candidate)
        doctests = self._doctest_candidate(target, taken)
        if doctests is not None:
            pool.candidates.append(doctests)

        if self.complete is not None:
            self._step("generating", "asking the model for candidates")
            pool.candidates += self._model_candidates(target, conventions, destination, taken)

        if not pool.candidates:
            return GenerationResult(target, None, _nothing_to_try(target, calls), conventions=conventions.evidence)

        self._step("running", f"running {len(pool.candidates)} candidates twice")
        runs = [self._run(target, destination, pool.candidates) for _ in range(_RUNS_TO_PASS)]
        failing = [c for c in pool.candidates if not all(run.passed(c.test_names) for run in runs)]
        if failing:
            self._step("repairing", f"repairing {len(failing)} candidates from observed values")
            repaired = self._repair(target, destination, failing, runs[0])
            if repaired:
                pool.repaired |= {c.name for c in repaired}
                more = [self._run(target, destination, repaired) for _ in range(_RUNS_TO_PASS)]
                pool.candidates = [c for c in pool.candidates if c not in failing] + repaired
                runs = [_merge_runs(first, second) for first, second in zip(runs, more, strict=True)]
        return self._choose(target, destination, pool, runs, baseline, conventions, probe)

    def _step(self, stage: str, message: str) -> None:
        if self.cancel.cancelled:
            raise GenerationCancelled()
        self.progress(f"{stage}: {message}")

    def _run(
        self,
        target: TestTarget,
        destination: Destination,
        candidates: Sequence[TestCandidate],
        probe: str | None = None,
    ) -> TestRun:
        """One sandbox run: the destination file with `candidates` appended (and the probe beside
        it), plus the project's other tests of the module for the baseline."""
        files: list[tuple[str, str]] = []
        tests = [destination.path] if destination.existing_text is not None or candidates else []
        if candidates:
            files.append((destination.path, build_edit(destination, candidates).new_text))
        if probe is not None:
            probe_path = sandbox_path(destination.path, PROBE_FILE)
            files.append((probe_path, probe))
            tests.append(probe_path)
        python_path = ":".join(filter(None, [str(PLUGINS_DIR), target.location.import_root or "."]))
        files_env = [("PYTHONPATH", python_path)]
        started = time.monotonic()
        try:
            return run_with_coverage(
                self.root,
                self.runner,
                self.python,
                target.path,
                (target.start_line, target.end_line),
                tests,
                files,
                timeout_s=self.settings.sandbox_timeout_s,
                memory_bytes=self.settings.sandbox_memory_mb * 1024 * 1024,
                allow_network=self.settings.sandbox_allow_network,
                cancel=self.cancel,
                extra_env=files_env,
            )
        finally:
            self.timings["sandbox"] = self.timings.get("sandbox", 0.0) + time.monotonic() - started
            if self.cancel.cancelled:
                raise GenerationCancelled()

    def _baseline_arcs(self, run: TestRun, destination: Destination) -> frozenset[tuple[int, int]]:
        existing = [name for name in run.arcs if not name.startswith(PROBE_PREFIX)]
        return run.arcs_of(existing)

    def _doctest_candidate(self, target: TestTarget, taken: set[str]) -> TestCandidate | None:
        checks = [d for d in target.doctests if d.expected and target.name in d.source]
        if not checks:
            return None
        name = f"test_{target.name.strip('_')}_docstring_examples"
        while name in taken:
            name += "_2"
        taken.add(name)
        body = [f"def {name}():", '    """The examples in the docstring still hold."""']
        body += [f"    assert {d.source} == {d.expected}" for d in checks]
        from aqe.testgen.probe import target_import

        return TestCandidate(name, (name,), "\n".join(body) + "\n", (target_import(target),), "doctest")

    def _model_candidates(
        self, target: TestTarget, conventions: TestConventions, destination: Destination, taken: set[str]
    ) -> list[TestCandidate]:
        examples = self.similar_tests(target) if self.similar_tests is not None else []
        found: list[TestCandidate] = []
        started = time.monotonic()
        for variant in variants(target, self.settings.test_generation_candidates):
            if self.cancel.cancelled:
                raise GenerationCancelled()
            prompt = build_prompt(target, conventions, destination.path, examples, variant.opening)
            try:
                completion = self.complete(prompt, variant.options, self.cancel)
            except ProviderError as error:
                log.info("the model gave no candidate: %s", error)
                break
            found += read_candidates(completion.text, target, variant.opening, f"model:{completion.model}", taken)
        self.timings["model"] = time.monotonic() - started
        return found

    def _repair(
        self, target: TestTarget, destination: Destination, failing: Sequence[TestCandidate], run: TestRun
    ) -> list[TestCandidate]:
        """Failing `assert x == expected` where `x` ran: rewrite with the value observed (a regression
        oracle, labelled as such). Other failures are not repaired."""
        instrumented = [instrument_assertions(candidate) for candidate in failing]
        usable = [item for item in instrumented if item is not None]
        if not usable:
            return []
        observe = self._run(target, destination, [item.candidate for item in usable])
        seen = observed_assertions(observe.probe_output)
        repaired: list[TestCandidate] = []
        for item in usable:
            if not observe.passed(item.candidate.test_names):
                continue
            fixed = rewrite_assertions(item, seen)
            if fixed is not None:
                repaired.append(fixed)
        return repaired

    def _choose(
        self,
        target: TestTarget,
        destination: Destination,
        pool: _Pool,
        runs: list[TestRun],
        baseline: frozenset[tuple[int, int]],
        conventions: TestConventions,
        probe: TestRun,
    ) -> GenerationResult:
        reports: list[CandidateReport] = []
        best: tuple[tuple[int, int], TestCandidate, frozenset[tuple[int, int]]] | None = None
        for candidate in pool.candidates:
            passed = sum(run.passed(candidate.test_names) for run in runs)
            reached = runs[0].arcs_of(candidate.test_names)
            gained = reached - baseline
            note = ""
            if passed < len(runs):
                first_failure = next(
                    (runs[0].messages.get(n) for n in candidate.test_names if runs[0].messages.get(n)), ""
                )
                note = (first_failure or "failed").splitlines()[0][:200]
            elif not gained:
                note = "passes but reaches nothing the existing tests do not"
            reports.append(
                CandidateReport(
                    candidate.name,
                    candidate.generator,
                    passed,
                    len(gained),
                    candidate.lines,
                    candidate.name in pool.repaired,
                    note,
                )
            )
            if passed == len(runs) and gained:
                score = (len(gained), -candidate.lines)
                if best is None or score > best[0]:
                    best = (score, candidate, reached)
        network = probe.sandbox.network_isolated
        if best is None:
            reason = _why_none(reports, len(runs))
            return GenerationResult(target, None, reason, tuple(reports), conventions=conventions.evidence,
                                    network_isolated=network)  # fmt: skip
        _, winner, reached = best
        all_arcs = probe.arcs_of(list(probe.arcs))
        proven = ProvenTest(
            candidate=winner,
            edit=build_edit(destination, [winner]),
            arcs_before=len(baseline),
            arcs_after=len(baseline | reached),
            arcs_in_function=len(all_arcs | baseline | reached) or None,
            lines_gained=tuple(sorted(lines_of(reached - baseline) - lines_of(baseline))),
            runs=len(runs),
            repaired=winner.name in pool.repaired,
        )
        return GenerationResult(target, proven, None, tuple(reports), conventions=conventions.evidence,
                                network_isolated=network)  # fmt: skip


def _merge_runs(first: TestRun, second: TestRun) -> TestRun:
    return TestRun(
        {**first.outcomes, **second.outcomes},
        {**first.messages, **second.messages},
        {**first.arcs, **second.arcs},
        first.probe_output,
        second.sandbox,
    )


def _nothing_to_try(target: TestTarget, calls: Sequence[object]) -> str:
    if not calls:
        return (
            f"no candidate test for `{target.qualified_name}`: aqe could not build its arguments from their types "
            "and no model is available (set a model, or add type hints)"
        )
    return f"no call of `{target.qualified_name}` ended in a value or error that a test can state"


def _why_none(reports: Sequence[CandidateReport], runs: int) -> str:
    proven_but_useless = [r for r in reports if r.passed_runs == runs and not r.arcs_gained]
    failed = [r for r in reports if r.passed_runs == 0]
    unstable = [r for r in reports if 0 < r.passed_runs < runs]
    if proven_but_useless and not failed and not unstable:
        return "every candidate passed, but none reached a line or branch that the existing tests do not"
    parts = [f"{len(reports)} candidates tried"]
    if failed:
        parts.append(f"{len(failed)} failed (first: {failed[0].note or 'no message'})")
    if unstable:
        parts.append(f"{len(unstable)} passed only in some runs (not deterministic)")
    if proven_but_useless:
        parts.append(f"{len(proven_but_useless)} passed without adding coverage")
    return "no test could be proven: " + "; ".join(parts)
