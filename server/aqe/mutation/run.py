"""Run the mutants of one function against some tests: one sandboxed pytest session for all of them.

Starting pytest and collecting the tests costs more than running a small function's tests, so the
session is paid once (see `aqe/sandbox/plugins/aqe_mutants.py` for how the function is swapped inside it). Each
mutant's time limit comes from the session's own baseline pass, not from a guess.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aqe.llm.types import CancelToken
from aqe.mutation.mutants import FunctionMutants, Mutant
from aqe.sandbox.failure import stopping_error
from aqe.sandbox.pytest_command import PLUGINS_DIR, pytest_environment
from aqe.sandbox.runner import SandboxResult, SandboxRunner, SandboxSpec

PLAN_FILE = ".aqe-mutants-plan.json"
OUTPUT_FILE = ".aqe-mutants.jsonl"
TIMEOUT_FACTOR = 5.0
"""A mutant may take this many times the baseline pass before it counts as a timeout (an endless loop)."""
MIN_TIMEOUT_S = 1.0

Status = Literal["killed", "survived", "timeout", "error", "not run"]


class MutationRunFailed(Exception):
    """The session could not start or report (pytest missing, the tests do not collect)."""


@dataclass(frozen=True)
class MutantOutcome:
    mutant: Mutant
    status: Status
    killed_by: tuple[str, ...] = ()
    """Node ids of the tests that failed under the mutant (only the first, unless every killer was asked)."""
    detail: str = ""


@dataclass(frozen=True)
class MutationRun:
    function: FunctionMutants
    outcomes: tuple[MutantOutcome, ...]
    tests: tuple[str, ...]
    """The tests that passed unmutated and call the function: the ones run against the mutants."""
    failing_tests: tuple[str, ...]
    """Tests that already failed without a mutant: left out, a failure says nothing about a mutant."""
    baseline_s: float
    duration_s: float

    @property
    def killed(self) -> int:
        """Mutants detected: a test failed, or the mutant ran past its time limit (as mutmut counts)."""
        return sum(1 for outcome in self.outcomes if outcome.status in ("killed", "timeout"))

    @property
    def total(self) -> int:
        """Mutants that could be judged (a mutant that could not be installed counts for nothing)."""
        return sum(1 for outcome in self.outcomes if outcome.status in ("killed", "timeout", "survived"))

    @property
    def survivors(self) -> tuple[MutantOutcome, ...]:
        return tuple(outcome for outcome in self.outcomes if outcome.status == "survived")


def run_mutants(
    root: Path,
    runner: SandboxRunner,
    python: str,
    module: str,
    function: FunctionMutants,
    tests: Sequence[str],
    *,
    files: Sequence[tuple[str, str]] = (),
    import_root: str | None = None,
    every_killer: bool = False,
    timeout_s: float,
    memory_bytes: int | None,
    allow_network: bool,
    cancel: CancelToken | None = None,
) -> MutationRun:
    """Run every mutant of `function` (in dotted `module`) against `tests` (node ids or files) in a copy
    of `root` with `files` written over it. `every_killer` records every test that kills each mutant
    (to choose among tests), else the run moves on at the first."""
    plan = {
        "module": module,
        "qualified_name": function.qualified_name,
        "start_line": function.start_line,
        "mutants": [{"id": mutant.id, "source": mutant.function_source} for mutant in function.mutants],
        "output": OUTPUT_FILE,
        "timeout_factor": TIMEOUT_FACTOR,
        "min_timeout_s": MIN_TIMEOUT_S,
        "every_killer": every_killer,
    }
    # A plugin of the interpreter's (not the project's) warning at start-up must not stop a project whose
    # settings turn warnings into errors (pytest-asyncio's loop-scope notice did, on isodate and humanize).
    command = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "aqe_mutants",
               "-W", "ignore::pytest.PytestDeprecationWarning", f"--aqe-mutants={PLAN_FILE}", *tests]  # fmt: skip
    environment = dict(pytest_environment(root))
    paths = [str(PLUGINS_DIR), environment.get("PYTHONPATH", ""), import_root or "."]
    environment["PYTHONPATH"] = ":".join(dict.fromkeys(filter(None, ":".join(paths).split(":"))))
    spec = SandboxSpec(
        command=("/bin/sh", "-c", shlex.join(command)),
        copy_from=root,
        files=(*files, (PLAN_FILE, json.dumps(plan))),
        env=tuple(environment.items()),
        timeout_s=timeout_s,
        memory_bytes=memory_bytes,
        allow_network=allow_network,
        collect=(OUTPUT_FILE,),
        python=python,
    )
    result = runner.run(spec, cancel)
    return _read(function, result)


def _read(function: FunctionMutants, result: SandboxResult) -> MutationRun:
    raw = result.artifacts.get(OUTPUT_FILE, b"").decode("utf-8", errors="replace")
    records = [json.loads(line) for line in raw.splitlines() if line.strip()]
    baseline = next((record["baseline"] for record in records if "baseline" in record), None)
    if baseline is None:
        if result.stopped_reason is not None:
            raise MutationRunFailed(f"the mutation run was stopped ({result.stopped_reason}) before its tests ran")
        error = stopping_error(result.stdout_tail, result.stderr_tail) or f"exit code {result.exit_code}"
        raise MutationRunFailed(f"pytest did not run the tests: {error}")
    by_id = {record["id"]: record for record in records if "id" in record}
    failed = tuple(baseline["failed"])
    passing = tuple(baseline["tests"])
    stopped = f"the run was stopped ({result.stopped_reason})" if result.stopped_reason else "not reached"
    if not passing:
        stopped = "no test that calls the function passed without a mutant, so none could judge one"
    outcomes = []
    for mutant in function.mutants:
        record = by_id.get(mutant.id)
        if record is None:
            outcomes.append(MutantOutcome(mutant, "not run", (), stopped))
            continue
        outcomes.append(
            MutantOutcome(mutant, record["status"], tuple(record.get("killed_by", ())), record.get("detail", ""))
        )
    return MutationRun(
        function,
        tuple(outcomes),
        passing,
        failed,
        float(baseline["seconds"]),
        result.duration_s,
    )
