"""Generate a test that is proven: it passes, passes again, and reaches lines or branches of the
function that the project's tests did not reach.

    context -> candidates (model continuations or chats; model-free calls observed by running) ->
    one run of them all with per-test coverage, twice -> repair of near misses -> the best proven one

The model's candidates and the model-free ones compete on the same terms; the winner is the one that
adds the most coverage, then the shortest. Everything that runs, runs in the sandbox; the workspace
is only read. Blocking from start to end: the language server calls it from a worker thread.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from aqe.config import Settings
from aqe.flaky.junit import Outcome
from aqe.llm.types import CancelToken, Completion, CompletionOptions, FinishReason, Prompt, ProviderError
from aqe.sandbox.pytest_command import PLUGINS_DIR, project_python
from aqe.sandbox.runner import SandboxRefused, SandboxRunner
from aqe.testgen.layout import TestConventions, learn_conventions
from aqe.testgen.model_tests import build_prompt, read_candidates, variants
from aqe.testgen.placement import Destination, TestFileEdit, build_edit, choose_destination
from aqe.testgen.probe import PROBE_FILE, PROBE_PREFIX, choose_cases, import_error, probe_module, read_observations
from aqe.testgen.render import TestCandidate, render_observed
from aqe.testgen.repair import instrument_assertions, observed_assertions, rewrite_assertions
from aqe.testgen.strength import Gain, gains, mutant_kills, smallest_cover
from aqe.testgen.target import TestTarget
from aqe.testgen.validate import RunFailed, TestRun, lines_of, run_with_coverage, sandbox_path
from aqe.testgen.values import candidate_calls, value_context
from aqe.workspace import Workspace

log = logging.getLogger(__name__)

Complete = Callable[[Prompt, CompletionOptions, CancelToken], Completion]
SimilarTests = Callable[[TestTarget], list[str]]
Progress = Callable[[str], None]

_RUNS_TO_PASS = 2
_MAX_BASELINE_FILES = 8


class GenerationCancelled(Exception):
    pass


@dataclass(frozen=True)
class CandidateReport:
    name: str
    generator: str
    passed_runs: int
    """Executions that passed (a candidate must pass twice)."""
    arcs_gained: int
    lines: int
    repaired: bool = False
    note: str = ""
    code: str = ""


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
    mutants_killed: int | None = None
    """Mutants of the function the test kills; None when no mutant run took place (see strength.py)."""
    mutants_total: int | None = None
    mutants_killed_before: int | None = None
    """Mutants the project's own tests already killed in the same run."""


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
    python: str = ""  # the interpreter that ran the project's tests: a result names it


@dataclass
class _Pool:
    candidates: list[TestCandidate] = field(default_factory=list)
    repaired: set[str] = field(default_factory=set)


class TestGenerator:
    __test__ = False  # a name pytest would otherwise try to collect

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
        python: str | None = None,
    ) -> None:
        self.root = root
        self.settings = settings
        self.runner = runner
        self.complete = complete
        self.similar_tests = similar_tests
        self.progress = progress or (lambda _message: None)
        self.cancel = cancel or CancelToken()
        self.workspace = Workspace((root,), settings.exclude)
        self.python = python or project_python(root)
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
        return replace(result, seconds=time.monotonic() - started, timings=dict(self.timings), python=self.python)

    # --- the steps ----------------------------------------------------------------------------

    def _generate(self, target: TestTarget, module_text: str) -> GenerationResult:
        self._step("searching", "reading the project's test conventions")
        conventions = learn_conventions(self.workspace, self.root)
        destination = choose_destination(self.root, self.workspace, target, conventions)
        taken = set(destination.taken_names)
        pool = _Pool()

        calls = candidate_calls(value_context(self.root, target, module_text, conventions.fixtures))
        # The model writes its candidates while the probe runs: both take seconds, on different cores.
        model_work: concurrent.futures.Future[list[TestCandidate]] | None = None
        executor = None
        if self.complete is not None:
            self._step("generating", "asking the model for candidates")
            executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="aqe-testgen-model")
            model_names = set(taken)
            callee = f"{calls[0].receiver.source}.{target.name}" if calls and calls[0].receiver is not None else None
            model_work = executor.submit(self._model_candidates, target, conventions, destination, model_names, callee)
        try:
            self._step("running", "observing the code with candidate inputs")
            probe = self._run(target, destination, [], probe=probe_module(target, calls) if calls else None,
                              baseline=self._related_tests(target, destination))  # fmt: skip
            failed_import = import_error(probe.probe_output)
            if failed_import is not None:
                reason = f"`{target.location.module}` cannot be imported, so no test can run it ({failed_import})"
                return GenerationResult(target, None, reason)
            baseline = self._baseline_arcs(probe)
            observations = read_observations(probe.probe_output)
            by_call = {
                int(name.removeprefix(PROBE_PREFIX)): arcs
                for name, arcs in probe.arcs.items()
                if name.startswith(PROBE_PREFIX)
            }
            chosen = choose_cases(calls, observations, by_call, baseline)  # new arcs, then new outcomes
            cases = [(calls[n], observations[n]) for n in sorted(chosen) if n < len(calls)]  # the base call first
            values_candidate = render_observed(target, cases, taken, conventions, observations.values())
            if values_candidate is not None:
                pool.candidates.append(values_candidate)
            doctests = self._doctest_candidate(target, taken)
            if doctests is not None:
                pool.candidates.append(doctests)
            if model_work is not None:
                pool.candidates += _unique_names(model_work.result(), taken)
        finally:
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)

        if not pool.candidates:
            covered_already = (
                calls and observations and (not by_call or frozenset().union(*by_call.values()) <= baseline)
            )
            reason = _nothing_to_try(target, calls)
            if covered_already:
                reason = (
                    f"the project's tests already reach every line and branch of `{target.qualified_name}` "
                    f"that aqe's inputs reach ({len(baseline)} arcs); no new test would add coverage"
                )
            return GenerationResult(target, None, reason, conventions=conventions.evidence)

        self._step("running", f"running {len(pool.candidates)} candidates twice")
        runs = self._prove(target, destination, pool.candidates, conventions)
        failing = [c for c in pool.candidates if not all(run.passed(c.test_names) for run in runs)]
        # A candidate the sandbox had to stop (it hung, or destroyed its run) is not worth repairing.
        failing = [c for c in failing if not any(_stopped(run, c) for run in runs)]
        if failing:
            self._step("repairing", f"repairing {len(failing)} candidates from observed values")
            repaired = self._repair(target, destination, failing)
            if repaired:
                pool.repaired |= {c.name for c in repaired}
                more = self._prove(target, destination, repaired, conventions)
                pool.candidates = [c for c in pool.candidates if c not in failing] + repaired
                runs = [_merge_runs(first, second) for first, second in zip(runs, more, strict=True)]
        return self._choose(target, destination, pool, runs, baseline, conventions, probe)

    def _prove(
        self,
        target: TestTarget,
        destination: Destination,
        candidates: Sequence[TestCandidate],
        conventions: TestConventions,
    ) -> list[TestRun]:
        """Each candidate's tests pass twice: in one pytest session where the plugin can repeat them
        (plain test functions), else in two sessions (unittest classes). A session the sandbox had to
        stop (a candidate that hangs) is retried one candidate at a time, so one bad candidate cannot
        sink the others."""
        functions = [name for candidate in candidates for name in candidate.test_names if "::" not in name]
        one_session = len(functions) == sum(len(candidate.test_names) for candidate in candidates)
        try:
            if one_session:
                return [self._run(target, destination, candidates, twice=functions)]
            return [self._run(target, destination, candidates) for _ in range(_RUNS_TO_PASS)]
        except RunFailed as stopped:
            if len(candidates) == 1:
                return [_failed_run(candidates, str(stopped), 2 if one_session else 1)]
            log.info("the candidates' run failed (%s); running them one at a time", stopped)
        runs = [self._prove(target, destination, [candidate], conventions) for candidate in candidates]
        merged = runs[0]
        for more in runs[1:]:
            merged = [_merge_runs(first, second) for first, second in zip(merged, more, strict=True)]
        return merged

    def _related_tests(self, target: TestTarget, destination: Destination) -> list[str]:
        """The project's tests of this module (they set the baseline coverage), at most a few files."""
        from aqe.coverage.related import related_tests

        source = self.root / target.path
        python_files = [p for p in self.workspace.iter_source_files([self.root]) if p.suffix == ".py"]
        related = [p.relative_to(self.root).as_posix() for p in related_tests(source, self.root, python_files)]
        return [path for path in related if path != destination.path][:_MAX_BASELINE_FILES]

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
        *,
        baseline: Sequence[str] = (),
        twice: Sequence[str] = (),
    ) -> TestRun:
        """One sandbox run: the destination file with `candidates` appended (only they run, when there
        are candidates), or the probe beside it with the destination's and `baseline` files' tests."""
        files: list[tuple[str, str]] = []
        tests: list[str] = []
        if candidates:
            files.append((destination.path, build_edit(destination, candidates).new_text))
            tests += [f"{destination.path}::{name}" for candidate in candidates for name in candidate.test_names]
        if probe is not None:
            if destination.existing_text is not None:
                tests.append(destination.path)
            tests += baseline
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
                twice=twice,
            )
        finally:
            self.timings["sandbox"] = self.timings.get("sandbox", 0.0) + time.monotonic() - started
            if self.cancel.cancelled:
                raise GenerationCancelled()

    def _baseline_arcs(self, run: TestRun) -> frozenset[tuple[int, int]]:
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
        self,
        target: TestTarget,
        conventions: TestConventions,
        destination: Destination,
        taken: set[str],
        callee: str | None = None,
    ) -> list[TestCandidate]:
        """Ask the model for candidates until `testGenerationModelBudgetS` is spent: a call still running
        then is cancelled between tokens (its partial answer is dropped), so a slow machine or a long
        prompt costs the user a bounded wait."""
        examples = self.similar_tests(target) if self.similar_tests is not None else []
        found: list[TestCandidate] = []
        started = time.monotonic()
        budget = self.settings.test_generation_model_budget_s
        for variant in variants(target, self.settings.test_generation_candidates, callee):
            if self.cancel.cancelled:
                raise GenerationCancelled()
            remaining = budget - (time.monotonic() - started)
            if budget and remaining <= 0:
                break
            call_cancel = CancelToken()
            timer = threading.Timer(remaining, call_cancel.cancel, ("over the model budget",)) if budget else None
            stop_with_us = threading.Thread(target=_follow, args=(self.cancel, call_cancel), daemon=True)
            stop_with_us.start()
            if timer is not None:
                timer.start()
            prompt = build_prompt(target, conventions, destination.path, examples, variant.opening)
            try:
                completion = self.complete(prompt, variant.options, call_cancel)
            except ProviderError as error:
                log.info("the model gave no candidate: %s", error)
                break
            finally:
                if timer is not None:
                    timer.cancel()
                call_cancel.cancel("done")  # ends the follower thread
            if completion.finish_reason is FinishReason.CANCELLED:
                break
            found += read_candidates(completion.text, target, variant.opening, f"model:{completion.model}", taken)
        self.timings["model"] = time.monotonic() - started
        return found

    def _repair(
        self, target: TestTarget, destination: Destination, failing: Sequence[TestCandidate]
    ) -> list[TestCandidate]:
        """Failing `assert x == expected` where `x` ran: rewrite with the value observed (a regression
        oracle, labelled as such). Other failures are not repaired."""
        instrumented = [instrument_assertions(candidate) for candidate in failing]
        usable = [item for item in instrumented if item is not None]
        if not usable:
            return []
        try:
            observe = self._run(target, destination, [item.candidate for item in usable])
        except RunFailed as failed:
            log.info("the repair run failed (%s); the failing candidates are dropped", failed)
            return []
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
        executions = sum(run.repeats for run in runs)
        passing = [c for c in pool.candidates if sum(r.repeats for r in runs if r.passed(c.test_names)) == executions]
        kills = None
        if passing and self.settings.test_generation_mutants:
            self._step("running", f"running the mutants of `{target.name}` against {len(passing)} passing candidates")
            started = time.monotonic()
            kills = mutant_kills(self.root, self.runner, self.python, self.settings, target, destination, passing,
                                 self._related_tests(target, destination), self.cancel)  # fmt: skip
            self.timings["mutants"] = time.monotonic() - started
            self._step("choosing", f"kills counted for {len(passing)} candidates")  # stops here if cancelled
        reports: list[CandidateReport] = []
        offers: list[tuple[TestCandidate, frozenset[Gain]]] = []
        for candidate in pool.candidates:
            passed = sum(run.repeats for run in runs if run.passed(candidate.test_names))
            reached = runs[0].arcs_of(candidate.test_names)
            gained = gains(candidate, reached, baseline, kills)
            note = ""
            if passed < executions:
                first_failure = next((runs[0].messages[n] for n in candidate.test_names if runs[0].messages.get(n)), "")
                note = (first_failure or "failed").splitlines()[0][:200]
            elif not gained:
                note = "passes but reaches nothing the existing tests do not" + (
                    ", and kills no mutant they miss" if kills else ""
                )
            arcs_gained = len(reached - baseline)
            reports.append(CandidateReport(candidate.name, candidate.generator, passed, arcs_gained, candidate.lines,
                                           candidate.name in pool.repaired, note, candidate.body))  # fmt: skip
            if passed == executions and gained:
                offers.append((candidate, gained))
        network = probe.sandbox.network_isolated if probe.sandbox is not None else False
        chosen = smallest_cover(offers)
        if not chosen:
            reason = _why_none(reports, executions)
            return GenerationResult(target, None, reason, tuple(reports), conventions=conventions.evidence,
                                    network_isolated=network)  # fmt: skip
        # The candidate worth most alone first; then each other proven one that still adds arcs or kills.
        winner = chosen[0] if len(chosen) == 1 else _combined(chosen)
        reached = runs[0].arcs_of(winner.test_names)
        all_arcs = probe.arcs_of(list(probe.arcs))
        result = ProvenTest(
            candidate=winner,
            edit=build_edit(destination, [winner]),
            arcs_before=len(baseline),
            arcs_after=len(baseline | reached),
            arcs_in_function=len(all_arcs | baseline | reached) or None,
            lines_gained=tuple(sorted(lines_of(reached - baseline) - lines_of(baseline))),
            runs=executions,
            repaired=any(candidate.name in pool.repaired for candidate in chosen),
            mutants_killed=len(kills.of(chosen)) if kills else None,
            mutants_total=kills.total if kills else None,
            mutants_killed_before=len(kills.by_existing) if kills else None,
        )
        return GenerationResult(target, result, None, tuple(reports), conventions=conventions.evidence,
                                network_isolated=network)  # fmt: skip


def _follow(outer: CancelToken, inner: CancelToken) -> None:
    """Cancel `inner` when `outer` is cancelled (the user stopped the whole generation)."""
    while not inner.cancelled:
        if outer.wait(0.1):
            inner.cancel(outer.reason or "cancelled")
            return


def _combined(candidates: Sequence[TestCandidate]) -> TestCandidate:
    """Several proven candidates as one test to write: their functions in order, their imports."""
    generators = list(dict.fromkeys(candidate.generator for candidate in candidates))
    return TestCandidate(
        name=candidates[0].name,
        test_names=tuple(name for candidate in candidates for name in candidate.test_names),
        body="\n\n".join(candidate.body.rstrip() + "\n" for candidate in candidates),
        imports=tuple(sorted({line for candidate in candidates for line in candidate.imports})),
        generator="+".join(generators),
        labels=tuple(dict.fromkeys(label for candidate in candidates for label in candidate.labels)),
    )


def _unique_names(candidates: Sequence[TestCandidate], taken: set[str]) -> list[TestCandidate]:
    """Model candidates were named in parallel with the others: rename any clash now."""
    unique: list[TestCandidate] = []
    for candidate in candidates:
        name, number = candidate.name, 2
        while name in taken:
            name, number = f"{candidate.name}_{number}", number + 1
        taken.add(name)
        if name != candidate.name:
            body = candidate.body.replace(f"def {candidate.name}(", f"def {name}(", 1)
            candidate = replace(candidate, name=name, test_names=(name,), body=body)
        unique.append(candidate)
    return unique


_RUN_FAILED = "the run failed: "


def _stopped(run: TestRun, candidate: TestCandidate) -> bool:
    return any(run.messages.get(name, "").startswith(_RUN_FAILED) for name in candidate.test_names)


def _failed_run(candidates: Sequence[TestCandidate], reason: str, repeats: int) -> TestRun:
    """What a run the sandbox stopped says about its candidates: all failed, for `reason`."""
    names = [name for candidate in candidates for name in candidate.test_names]
    return TestRun(
        {name: Outcome.ERROR for name in names}, dict.fromkeys(names, _RUN_FAILED + reason), {}, "", None, repeats
    )


def _merge_runs(first: TestRun, second: TestRun) -> TestRun:
    return TestRun(
        {**first.outcomes, **second.outcomes},
        {**first.messages, **second.messages},
        {**first.arcs, **second.arcs},
        first.probe_output,
        second.sandbox or first.sandbox,
        min(first.repeats, second.repeats),
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
