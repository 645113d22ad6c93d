"""The runner's side of the contract: the Action's inputs and the files a runner hands a step."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

COMMANDS = ("analyze", "generate", "flaky")
FAIL_ON = ("error", "warning", "info", "hint", "never")
PRIVACY_MODES = ("strict", "balanced", "off")


class InputError(ValueError):
    """An input the Action cannot act on; the step fails with this message (exit 2)."""


@dataclass(frozen=True)
class ActionInputs:
    commands: tuple[str, ...]
    paths: tuple[str, ...]
    fail_on: str
    privacy_mode: str
    working_directory: str
    junit_reports: tuple[str, ...]
    flaky_runs: int
    fail_on_flaky: bool
    generate_max: int
    generate_with_model: bool
    results_directory: str


@dataclass(frozen=True)
class RunnerContext:
    """What the runner provides: where the checkout is and where a step writes its outputs and summary."""

    workspace: Path
    output_file: Path | None
    summary_file: Path | None
    code_version: str | None
    """The commit the job's code is: a pull request's head (its tests' history belongs to it), else GITHUB_SHA."""


def _words(text: str) -> tuple[str, ...]:
    """Inputs are strings: lists are given one per line or separated by spaces or commas."""
    return tuple(word for word in text.replace(",", " ").split() if word)


def _flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    text = environ.get(name, "").strip().lower()
    if not text:
        return default
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    raise InputError(f"{_input_name(name)}: expected true or false, got {text!r}")


def _count(environ: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < minimum:
        raise InputError(f"{_input_name(name)}: expected a whole number of at least {minimum}, got {text!r}")
    return int(text)


def _choice(environ: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = environ.get(name, "").strip() or default
    if value not in choices:
        raise InputError(f"{_input_name(name)}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def _inside_repository(environ: Mapping[str, str], name: str, default: str) -> str:
    """Relative paths only: the Action reads and writes inside the checkout, nowhere else on the runner."""
    value = environ.get(name, "").strip() or default
    if Path(value).is_absolute() or ".." in Path(value).parts:
        raise InputError(f"{_input_name(name)}: must be a folder inside the repository, got {value!r}")
    return value


def _input_name(variable: str) -> str:
    return variable.removeprefix("INPUT_").lower().replace("_", "-")


def read_inputs(environ: Mapping[str, str]) -> ActionInputs:
    commands = _words(environ.get("INPUT_COMMANDS", "")) or ("analyze",)
    unknown = [command for command in commands if command not in COMMANDS]
    if unknown:
        raise InputError(f"commands: unknown {', '.join(unknown)} (choose from {', '.join(COMMANDS)})")
    working_directory = _inside_repository(environ, "INPUT_WORKING_DIRECTORY", ".")
    results_directory = _inside_repository(environ, "INPUT_RESULTS_DIRECTORY", "aqe-results")
    return ActionInputs(
        commands=tuple(dict.fromkeys(commands)),
        paths=_words(environ.get("INPUT_PATHS", "")) or (".",),
        fail_on=_choice(environ, "INPUT_FAIL_ON", "error", FAIL_ON),
        privacy_mode=_choice(environ, "INPUT_PRIVACY_MODE", "strict", PRIVACY_MODES),
        working_directory=working_directory,
        junit_reports=_words(environ.get("INPUT_JUNIT_REPORTS", "")),
        flaky_runs=_count(environ, "INPUT_FLAKY_RUNS", 0, 0),
        fail_on_flaky=_flag(environ, "INPUT_FAIL_ON_FLAKY", False),
        generate_max=_count(environ, "INPUT_GENERATE_MAX", 5, 1),
        generate_with_model=_flag(environ, "INPUT_GENERATE_WITH_MODEL", True),
        results_directory=results_directory,
    )


def read_context(environ: Mapping[str, str]) -> RunnerContext:
    workspace_text = environ.get("GITHUB_WORKSPACE", "").strip()
    workspace = Path(workspace_text) if workspace_text else Path.cwd()
    if not workspace.is_dir():
        raise InputError(f"GITHUB_WORKSPACE: {workspace} is not a folder")
    return RunnerContext(
        workspace=workspace.resolve(),
        output_file=_optional_path(environ, "GITHUB_OUTPUT"),
        summary_file=_optional_path(environ, "GITHUB_STEP_SUMMARY"),
        code_version=_event_commit(environ) or environ.get("GITHUB_SHA") or None,
    )


def _optional_path(environ: Mapping[str, str], name: str) -> Path | None:
    text = environ.get(name, "").strip()
    return Path(text) if text else None


def _event_commit(environ: Mapping[str, str]) -> str | None:
    """A pull request's head commit from the event payload; GITHUB_SHA is the merge commit there,
    which changes whenever the base branch moves and would split one change's test history."""
    event_path = environ.get("GITHUB_EVENT_PATH", "").strip()
    if not event_path:
        return None
    try:
        event = json.loads(Path(event_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    pull_request = event.get("pull_request") if isinstance(event, dict) else None
    head = pull_request.get("head") if isinstance(pull_request, dict) else None
    sha = head.get("sha") if isinstance(head, dict) else None
    return sha if isinstance(sha, str) and sha else None
