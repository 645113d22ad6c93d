"""`python -m aqe.github_action`: run the job's aqe commands, then annotate, summarise and set outputs.

Exit code: 2 when an input or a command's invocation is wrong, else 1 when findings reach `fail-on`
(or a test is flaky with `fail-on-flaky`), else 0. The SARIF files are written either way, so the
upload step that follows (`if: always()`) still shows the findings of a failing job.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from aqe.github_action.commands import EXIT_USAGE, AqeRunner
from aqe.github_action.inputs import InputError, read_context, read_inputs
from aqe.github_action.summary import JobResults, annotations, markdown, outputs


def main() -> int:
    try:
        inputs = read_inputs(os.environ)
        context = read_context(os.environ)
    except InputError as error:
        print(f"::error title=aqe action::{error}", flush=True)
        return EXIT_USAGE
    runner = AqeRunner(inputs, context)
    if not runner.project.is_dir():
        print(f"::error title=aqe action::working-directory: {inputs.working_directory} is not a folder", flush=True)
        return EXIT_USAGE
    results = JobResults(
        analyze=runner.analyze() if "analyze" in inputs.commands else None,
        generate=runner.generate() if "generate" in inputs.commands else None,
        flaky=runner.flaky() if "flaky" in inputs.commands else None,
    )
    code = _exit_code(results)
    for line in annotations(results):
        print(line, flush=True)
    if context.summary_file is not None:
        _append(context.summary_file, markdown(results, inputs.fail_on))
    if context.output_file is not None:
        _append(context.output_file, "".join(f"{name}={value}\n" for name, value in outputs(results, code).items()))
    return code


def _exit_code(results: JobResults) -> int:
    codes = []
    if results.analyze is not None:
        codes.append(results.analyze.exit_code)
    if results.generate is not None and results.generate.exit_code == EXIT_USAGE:
        codes.append(EXIT_USAGE)  # no test proven (1) is reported, not a failed job
    if results.flaky is not None:
        codes.append(results.flaky.exit_code)
    if EXIT_USAGE in codes:
        return EXIT_USAGE
    return 1 if any(codes) else 0


def _append(path: Path, text: str) -> None:
    """The runner gives each step these files to append to; other steps' lines must stay."""
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


if __name__ == "__main__":
    sys.exit(main())
