"""`aqe flaky run`: make history by running the tests again and again, in the sandbox.

N runs per test (by default N = 20) means every test runs at least N times: N whole-suite runs,
half in the project's order and half shuffled with a seed, then N/5 more runs (at least one) alone
for every test that failed at least once — the runs that tell "fails because of an earlier test" from
"fails by itself". So a test that never failed has N runs and one that failed N + N/5. (The alone
runs are not taken out of the N: only the tests that failed get them, and the others would be left
with fewer runs than asked for.) Every run is a JUnit report ingested into the history with its
kind, so verdicts can compare them.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aqe.flaky.bisect import BISECT_KIND, bisect_culprit
from aqe.flaky.history import HistoryStore
from aqe.flaky.identity import TestSources, code_version, identify
from aqe.flaky.junit import TRUNCATED, JUnitFormatError, JUnitReport, read_junit
from aqe.llm.types import CancelToken
from aqe.sandbox.failure import stopping_error
from aqe.sandbox.pytest_command import pytest_environment
from aqe.sandbox.runner import WORK_FOLDER, SandboxResult, SandboxRunner, SandboxSpec

log = logging.getLogger(__name__)

REPORT_NAME = ".aqe-junit.xml"


@dataclass(frozen=True)
class RunPlan:
    in_order: int
    shuffled: int
    alone: int

    @classmethod
    def for_budget(cls, runs: int) -> RunPlan:
        """`runs` suite runs (in order and shuffled), plus `alone` runs for each test that failed."""
        if runs < 2:
            raise ValueError("a flaky run needs at least 2 runs per test")
        return cls(in_order=(runs + 1) // 2, shuffled=runs // 2, alone=max(1, runs // 5))


class TestsNotRunnable(Exception):
    """pytest could not run the tests asked for on the first run (none to be found, or they do not
    import): every later run would end the same way, so the runs stop there with nothing recorded."""

    __test__ = False  # a name pytest would otherwise try to collect

    def __init__(self, message: str, *, usage: bool) -> None:
        super().__init__(message)
        self.usage = usage
        """The tests named do not exist or there are none (pytest's exits 4 and 5): the caller's to fix."""


_NOT_RUN = frozenset({2, 3, 4, 5})
"""pytest's exits for a session that did not run the tests: 2 interrupted (collection errors among
them), 3 internal error, 4 usage error (a path or node id not found), 5 no tests collected."""
_USAGE = frozenset({4, 5})
_SANDBOX_PATH = re.compile(rf"\S*/aqe-sandbox-[^/\s]*/{WORK_FOLDER}/")
"""The project's copy inside a sandbox, as pytest names paths in it."""


@dataclass(frozen=True)
class RunRecord:
    kind: str
    label: str
    passed: int
    failed: int
    sandbox: SandboxResult
    problem: str | None = None


@dataclass(frozen=True)
class FlakyRunSummary:
    code_version: str | None
    runs: tuple[RunRecord, ...]
    suspects: tuple[str, ...]
    cancelled: bool


ProgressCallback = Callable[[str], None]


def _junit_path(work_report: bytes, scratch: Path, index: int) -> Path:
    path = scratch / f"run-{index:04d}.xml"
    path.write_bytes(work_report)
    return path


class FlakyRunner:
    def __init__(
        self,
        root: Path,
        runner: SandboxRunner,
        history: HistoryStore,
        python: str,
        *,
        timeout_s: float,
        memory_bytes: int | None,
        allow_network: bool,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.root = root
        self.runner = runner
        self.history = history
        self.python = python
        self.timeout_s = timeout_s
        self.memory_bytes = memory_bytes
        self.allow_network = allow_network
        self.progress = progress or (lambda message: None)

    def _spec(self, tests: Sequence[str], order: str | None) -> SandboxSpec:
        command = [self.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "aqe_order",
                   f"--junitxml={REPORT_NAME}", "-o", "junit_family=xunit2"]  # fmt: skip
        if order:
            command.append(f"--aqe-order={order}")
        command.extend(tests)
        return SandboxSpec(
            command=tuple(command),
            copy_from=self.root,
            env=pytest_environment(self.root),
            timeout_s=self.timeout_s,
            memory_bytes=self.memory_bytes,
            allow_network=self.allow_network,
            collect=(REPORT_NAME,),
        )

    def _one(
        self,
        tests: Sequence[str],
        order: str | None,
        kind: str,
        label: str,
        scratch: Path,
        index: int,
        version: str | None,
        sources: TestSources,
        cancel: CancelToken,
    ) -> tuple[RunRecord, JUnitReport | None]:
        result = self.runner.run(self._spec(tests, order), cancel)
        if result.exit_code in _NOT_RUN:
            # Whatever report there is holds no test outcomes (a collection error is not one): keep none.
            return RunRecord(kind, label, 0, 0, result, _not_run(result, tests)), None
        raw = result.artifacts.get(REPORT_NAME)
        if raw is None:
            reason = result.stopped_reason or stopping_error("", result.stderr_tail) or "no report"
            return RunRecord(kind, label, 0, 0, result, f"no JUnit report ({reason})"), None
        try:
            report = read_junit(_junit_path(raw, scratch, index))
        except JUnitFormatError as error:
            return RunRecord(kind, label, 0, 0, result, str(error)), None
        if report.truncated:
            return RunRecord(kind, label, 0, 0, result, f"JUnit report: {TRUNCATED}"), None
        self.history.ingest(report, self.root, run_kind=kind, version=version, sources=sources)
        failed = sum(1 for case in report.cases if case.outcome.is_failure)
        passed = sum(1 for case in report.cases if case.outcome.value == "passed")
        return RunRecord(kind, label, passed, failed, result, "; ".join(report.problems) or None), report

    def run(self, tests: Sequence[str], runs: int, cancel: CancelToken | None = None) -> FlakyRunSummary:
        """Blocking; returns early (cancelled=True) when `cancel` is set. Raises HistoryError before
        running anything when the history cannot be written."""
        import tempfile

        cancel = cancel or CancelToken()
        plan = RunPlan.for_budget(runs)
        self.history.check_writable()
        version = code_version(self.root, trusted=self.runner.trusted)
        sources = TestSources(self.root)
        records: list[RunRecord] = []
        failed_ids: dict[str, str] = {}  # test id -> the node id to run it alone
        before: dict[tuple[str, bool], list[str]] = {}  # (test id, failed) -> the tests before it, first such run
        schedule = [("suite", None, f"in order {i + 1}/{plan.in_order}") for i in range(plan.in_order)]
        schedule += [("shuffled", f"shuffle:{i + 1}", f"shuffled (seed {i + 1})") for i in range(plan.shuffled)]
        with tempfile.TemporaryDirectory(prefix="aqe-flaky-") as scratch_name:
            scratch = Path(scratch_name)
            index = 0
            for kind, order, label in schedule:
                if cancel.cancelled:
                    break
                index += 1
                record, report = self._one(tests, order, kind, label, scratch, index, version, sources, cancel)
                code = record.sandbox.exit_code
                if code in _NOT_RUN and not records:
                    raise TestsNotRunnable(record.problem or f"pytest exited {code}", usage=code in _USAGE)
                records.append(record)
                self.progress(_describe(index, len(schedule), record))
                ran: list[str] = []
                for case in report.cases if report else ():
                    identity = identify(case, self.root)
                    if case.outcome.is_failure:
                        failed_ids.setdefault(identity.test_id, identity.test_id)
                    before.setdefault((identity.test_id, case.outcome.is_failure), list(ran))
                    ran.append(identity.test_id)
            # Only tests pytest can be asked for by node id (their file is known) can run alone.
            suspects = sorted(test_id for test_id in failed_ids if ".py::" in test_id)
            for test_id in suspects:
                alone: set[bool] = set()
                for attempt in range(plan.alone):
                    if cancel.cancelled:
                        break
                    index += 1
                    label = f"alone {attempt + 1}/{plan.alone}: {test_id}"
                    record, _ = self._one([test_id], None, "isolated", label, scratch, index, version, sources, cancel)
                    records.append(record)
                    self.progress(_describe(index, None, record))
                    if record.passed or record.failed:
                        alone.add(record.failed > 0)
                if len(alone) != 1 or cancel.cancelled:
                    continue  # fails alone only sometimes (or never ran): no order to search
                fails_alone = alone.pop()
                preceding = [t for t in before.get((test_id, not fails_alone), []) if ".py::" in t]
                if not preceding:
                    continue

                def run_order(tests: Sequence[str], victim: str = test_id) -> bool | None:
                    nonlocal index
                    index += 1
                    label = f"bisect {len(tests) - 1} before {victim}"
                    record, report = self._one(tests, None, BISECT_KIND, label, scratch, index, version, sources,
                                               cancel)  # fmt: skip
                    records.append(record)
                    self.progress(_describe(index, None, record))
                    cases = report.cases if report is not None else ()
                    outcome = [c.outcome.is_failure for c in cases if identify(c, self.root).test_id == victim]
                    return outcome[-1] if outcome else None

                bisect_culprit(test_id, preceding, fails_alone, run_order)
        return FlakyRunSummary(version, tuple(records), tuple(suspects), cancel.cancelled)


def _not_run(result: SandboxResult, tests: Sequence[str]) -> str:
    """Why pytest ran no tests, in its own words where it gives them (paths inside the sandbox made
    relative to the project again)."""
    code = result.exit_code
    out = _SANDBOX_PATH.sub("", result.stdout_tail).strip().splitlines()
    err = _SANDBOX_PATH.sub("", result.stderr_tail).strip().splitlines()
    asked = " ".join(tests) if tests else "the project"
    last = stopping_error("\n".join(out), "\n".join(err)) or "no output"
    if code == 5:
        why = f"pytest collected no tests from {asked}"
    elif code == 4:
        start = max((i for i, line in enumerate(err) if line.startswith("ERROR: ")), default=None)
        detail = last
        if start is not None:
            block = [err[start].removeprefix("ERROR: ")]
            block += [line.strip() for line in itertools.takewhile(str.strip, err[start + 1 : start + 3])]
            detail = " ".join(block)
        why = f"pytest cannot run {asked}: {detail}"
    elif code == 2:
        failed = [line.removeprefix("ERROR ").split(" - ", 1)[0] for line in out if line.startswith("ERROR ")]
        if failed:
            cause = next((line[1:].strip() for line in reversed(out) if line.startswith("E ")), None)
            why = f"pytest could not collect {', '.join(failed)}" + (
                f" ({cause})" if cause and len(failed) == 1 else ""
            )
        else:
            why = f"pytest was interrupted: {next((line for line in reversed(out) if line.strip()), last)}"
    else:
        why = f"pytest stopped with an internal error: {last}"
    return f"{why}; nothing was recorded (pytest exited {code})"


def _describe(index: int, total: int | None, record: RunRecord) -> str:
    where = f"run {index}" + (f"/{total}" if total else "")
    if record.problem and not (record.passed or record.failed):
        return f"{where} {record.label}: {record.problem}"
    text = f"{where} {record.label}: {record.passed} passed, {record.failed} failed"
    code = record.sandbox.exit_code
    if code not in (0, 1):  # pytest: 2 interrupted, 3 internal error, 4 usage error, 5 no tests
        last = (record.sandbox.stdout_tail.strip().splitlines() or [""])[-1]
        text += f" (pytest exited {code if code is not None else 'by signal ' + str(record.sandbox.signal)}: {last})"
    if record.problem:
        text += f"; {record.problem}"
    return text


def ingest_reports(
    history: HistoryStore, root: Path, paths: Sequence[Path], version: str | None
) -> tuple[list[tuple[Path, int, bool]], list[str]]:
    """Add JUnit reports to the history: (path, results added, already known) and the problems met.

    The paths are often a test run's output while that run is still writing it (`aqe flaky report`
    and the editor read `junitPaths` again and again). A report is stored once, by the digest of its
    bytes, so a truncated one is left out whole rather than in part: taking in the results before the
    cut and then the complete file (other bytes) would count that run twice. It is taken in when it is
    read again complete; one whose run was cut short stays out, and is named every time."""
    added: list[tuple[Path, int, bool]] = []
    problems: list[str] = []
    sources = TestSources(root)
    for path in paths:
        try:
            report = read_junit(path)
        except (JUnitFormatError, OSError) as error:
            problems.append(str(error))
            continue
        if report.truncated:
            problems.append(f"{path.name}: {TRUNCATED}; not added to the history until it is complete")
            continue
        problems.extend(report.problems)
        uncollected = [case.name for case in report.cases if case.is_collection_error]
        if uncollected:
            problems.append(
                f"{path.name}: pytest could not collect {', '.join(uncollected)}; left out (not a test result)"
            )
            report = dataclasses.replace(report, cases=tuple(c for c in report.cases if not c.is_collection_error))
        result = history.ingest(report, root, version=version, sources=sources)
        added.append((path, result.added, result.already_known))
    return added, problems


def expand_patterns(root: Path, patterns: Sequence[str]) -> list[Path]:
    import glob

    found: dict[Path, None] = {}
    for pattern in patterns:
        full = pattern if os.path.isabs(pattern) else str(root / pattern)
        for match in sorted(glob.glob(full, recursive=True)):
            if Path(match).is_file():
                found[Path(match)] = None
    return list(found)
