"""Proving tests by running them: pytest under coverage.py in the sandbox, with one coverage context
per test, so each test's lines and branches of the target are known, and JUnit XML for outcomes.

Coverage units are arcs (coverage.py's branch measurement: pairs of lines executed one after the
other) inside the target function; the lines are their ends. A candidate adds coverage when its arcs
are not all reached by the project's existing tests already (measured in the same run).
"""

from __future__ import annotations

import json
import shlex
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from aqe.flaky.junit import JUnitFormatError, Outcome, read_junit
from aqe.llm.types import CancelToken
from aqe.sandbox.failure import stopping_error
from aqe.sandbox.pytest_command import pytest_environment
from aqe.sandbox.runner import SandboxResult, SandboxRunner, SandboxSpec

JUNIT_FILE = ".aqe-junit.xml"
ARCS_FILE = ".aqe-arcs.json"
DATA_FILE = ".aqe-coverage-data"
CONFIG_FILE = ".aqe-coveragerc"
PROBE_OUTPUT = ".aqe-probe.jsonl"

Arc = tuple[int, int]

# Runs after pytest in the sandbox: every coverage context's arcs in the target file, as JSON.
_DUMP_ARCS = """
import json, re, sys
import coverage
data = coverage.CoverageData(sys.argv[1])
data.read()
target = sys.argv[2]
files = [name for name in data.measured_files() if name.replace('\\\\', '/').endswith(target)]
out = {}
for context in sorted(data.measured_contexts()):
    data.set_query_contexts(["^" + re.escape(context) + "$"])  # patterns: test_x_1 would match test_x_10
    arcs = set()
    for name in files:
        arcs.update(tuple(arc) for arc in (data.arcs(name) or []))
    out[context] = sorted(arcs)
json.dump(out, open(sys.argv[3], "w"))
"""


class RunFailed(Exception):
    """The run itself failed (not a test in it): no coverage.py, a timeout, a crash."""


@dataclass(frozen=True)
class TestRun:
    __test__ = False  # a name pytest would otherwise try to collect

    outcomes: dict[str, Outcome]
    """Test name (the function, or Class::method) -> outcome; parametrised cases collapse to the worst."""
    messages: dict[str, str]
    arcs: dict[str, frozenset[Arc]]
    """Test name -> arcs it reached inside the target function."""
    probe_output: str
    sandbox: SandboxResult | None
    """None for a run the sandbox stopped before it could report."""
    repeats: int = 1
    """How many times each candidate test ran in this session (2 with the aqe_twice plugin)."""

    def passed(self, names: Sequence[str]) -> bool:
        return bool(names) and all(self.outcomes.get(name) is Outcome.PASSED for name in names)

    def arcs_of(self, names: Sequence[str]) -> frozenset[Arc]:
        return frozenset().union(*(self.arcs.get(name, frozenset()) for name in names))


def run_with_coverage(
    root: Path,
    runner: SandboxRunner,
    python: str,
    target_path: str,
    target_lines: tuple[int, int],
    test_files: Sequence[str],
    files: Sequence[tuple[str, str]],
    *,
    timeout_s: float,
    memory_bytes: int | None,
    allow_network: bool,
    cancel: CancelToken | None = None,
    extra_env: Sequence[tuple[str, str]] = (),
    twice: Sequence[str] = (),
) -> TestRun:
    """Run `test_files` (workspace-relative paths or node ids; `files` are written over the copy
    first) in a copy of the workspace and report each test's outcome and arcs inside `target_lines`
    of `target_path`. Test functions named in `twice` run twice in the session (both must pass)."""
    config = "\n".join(
        ["[run]", "branch = True", "dynamic_context = test_function", f"data_file = {DATA_FILE}",
         f"include = */{target_path}", "", "[report]", "ignore_errors = True", ""]
    )  # fmt: skip
    run = shlex.join(
        [python, "-m", "coverage", "run", f"--rcfile={CONFIG_FILE}", "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-p", "no:randomly", "-p", "aqe_twice", f"--aqe-twice={','.join(twice)}", f"--junitxml={JUNIT_FILE}",
         "-o", "junit_family=xunit1", *test_files]
    )  # fmt: skip
    dump = shlex.join([python, "-c", _DUMP_ARCS, DATA_FILE, target_path, ARCS_FILE])
    command = ("/bin/sh", "-c", f"{run}; status=$?; {dump} || exit 97; exit $status")
    spec = SandboxSpec(
        command=command,
        copy_from=root,
        files=(*files, (CONFIG_FILE, config)),
        env=tuple({**dict(pytest_environment()), **dict(extra_env), "AQE_PROBE_OUTPUT": PROBE_OUTPUT}.items()),
        timeout_s=timeout_s,
        memory_bytes=memory_bytes,
        allow_network=allow_network,
        collect=(JUNIT_FILE, ARCS_FILE, PROBE_OUTPUT),
        python=python,
    )
    result = runner.run(spec, cancel)
    if result.stopped_reason is not None:
        raise RunFailed(f"the test run was stopped ({result.stopped_reason} after {result.duration_s:.0f} s)")
    if "No module named coverage" in result.stderr_tail:
        raise RunFailed(f"coverage.py is not installed in {python}; aqe needs it to prove a test adds coverage")
    junit = result.artifacts.get(JUNIT_FILE)
    if junit is None:
        tail = [stopping_error(result.stdout_tail, result.stderr_tail) or ""]
        raise RunFailed("pytest did not run: " + (" / ".join(tail) or f"exit code {result.exit_code}"))
    outcomes, messages = _outcomes(junit)
    arcs = _arcs(result.artifacts.get(ARCS_FILE), target_lines)
    probe = result.artifacts.get(PROBE_OUTPUT, b"").decode("utf-8", errors="replace")
    return TestRun(outcomes, messages, arcs, probe, result, 2 if twice else 1)


def _outcomes(junit: bytes) -> tuple[dict[str, Outcome], dict[str, str]]:
    with tempfile.NamedTemporaryFile(suffix=".xml") as handle:
        handle.write(junit)
        handle.flush()
        try:
            report = read_junit(Path(handle.name))
        except JUnitFormatError as error:
            raise RunFailed(f"pytest's report could not be read: {error}") from error
    rank = {Outcome.PASSED: 0, Outcome.SKIPPED: 1, Outcome.FAILED: 2, Outcome.ERROR: 3}
    outcomes: dict[str, Outcome] = {}
    messages: dict[str, str] = {}
    for case in report.cases:
        if case.attempt:
            continue
        name = case.name.split("[", 1)[0]
        classname = case.classname.rsplit(".", 1)[-1]
        if classname and classname[:1].isupper():
            name = f"{classname}::{name}"
        previous = outcomes.get(name)
        if previous is None or rank[case.outcome] > rank[previous]:
            outcomes[name] = case.outcome
            if case.message:
                messages[name] = case.message
    return outcomes, messages


def _arcs(raw: bytes | None, lines: tuple[int, int]) -> dict[str, frozenset[Arc]]:
    """Contexts look like `tests.test_cart.test_total` or `tests.test_cart.TestCart.test_total`."""
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    first, last = lines
    found: dict[str, frozenset[Arc]] = {}
    for context, arcs in data.items():
        if not context:
            continue
        parts = context.split(".")
        name = f"{parts[-2]}::{parts[-1]}" if len(parts) > 1 and parts[-2][:1].isupper() else parts[-1]
        inside = frozenset(
            (int(a), int(b)) for a, b in arcs if first <= abs(int(a)) <= last or first <= abs(int(b)) <= last
        )
        found[name] = found.get(name, frozenset()) | inside
    return found


def lines_of(arcs: frozenset[Arc]) -> set[int]:
    return {abs(line) for arc in arcs for line in arc if line > 0}


def sandbox_path(test_path: str, name: str) -> str:
    """A file beside the destination test file (so its conftest.py fixtures apply)."""
    return (PurePosixPath(test_path).parent / name).as_posix()
