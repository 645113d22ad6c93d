"""A stand-alone pytest plugin (`-p aqe_mutants --aqe-mutants=PLAN.json`) that runs many mutants of one
function in ONE pytest session, inside the sandbox.

Tests are collected once. A baseline pass times them and notes which of them call the function (only
those can notice a mutant of it, so only those run again); then, for each mutant, the function's code object
is swapped for the mutant's (`function.__code__ = ...`), so every reference to the function sees it,
including names bound by `from module import function` before the swap. The collected tests run again
under a per-mutant time limit (SIGALRM), stopping at the first failure unless the plan asks for every
killing test. The original code is put back after each mutant. One JSON line per mutant is appended to
the plan's output file as soon as it is known, so a run the sandbox stops still reports what it saw.

It imports nothing from aqe: it runs under the project's interpreter.
"""

from __future__ import annotations

import importlib
import inspect
import json
import signal
import sys
import textwrap
import threading
import time

import pytest

_HOST = "_AqeMutantHost"


class _MutantTimeout(BaseException):
    pass


def pytest_addoption(parser):
    parser.addoption("--aqe-mutants", default="", help="aqe: the plan of mutants to run")


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    plan_path = session.config.getoption("aqe_mutants")
    if not plan_path:
        return None
    if session.testsfailed and not session.config.option.continue_on_collection_errors:
        raise session.Interrupted(f"{session.testsfailed} errors during collection")  # as pytest's own loop
    with open(plan_path, encoding="utf-8") as handle:
        plan = json.load(handle)
    with open(plan["output"], "a", encoding="utf-8") as out:
        _run_plan(session, plan, out)
    return True


def _run_plan(session, plan, out):
    def emit(record):
        out.write(json.dumps(record) + "\n")
        out.flush()

    items = list(session.items)
    try:
        function = _function(plan["module"], plan["qualified_name"])
    except Exception as error:  # the module cannot be imported: every mutant says so
        _run_items(items, stop_early=False)
        for mutant in plan["mutants"]:
            emit({"id": mutant["id"], "status": "error", "detail": f"{type(error).__name__}: {error}"})
        return
    reached = set()
    started = time.monotonic()
    failed = _run_items(items, stop_early=False, watch=(function.__code__, reached))
    baseline_s = time.monotonic() - started
    items = [item for item in items if item.nodeid not in failed and item.nodeid in reached]
    emit({"baseline": {"seconds": baseline_s, "tests": [item.nodeid for item in items], "failed": failed}})
    if not items:
        return
    original = (function.__code__, function.__defaults__, function.__kwdefaults__)
    limit = max(plan["min_timeout_s"], baseline_s * plan["timeout_factor"])
    every_killer = plan.get("every_killer", False)
    for mutant in plan["mutants"]:
        try:
            new = _compile(function, mutant["source"], plan)
            function.__code__, function.__defaults__, function.__kwdefaults__ = (
                new.__code__, new.__defaults__, new.__kwdefaults__,
            )  # fmt: skip
        except Exception as error:
            emit({"id": mutant["id"], "status": "error", "detail": f"{type(error).__name__}: {error}"})
            continue
        timed_out = []

        def on_alarm(_signum, _frame, timed_out=timed_out):
            timed_out.append(True)
            raise _MutantTimeout()

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, limit)
        killers = []
        try:
            killers = _run_items(items, stop_early=not every_killer)
        except _MutantTimeout:
            timed_out.append(True)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            function.__code__, function.__defaults__, function.__kwdefaults__ = original
        if timed_out:
            session._setupstate.teardown_exact(None)
            emit({"id": mutant["id"], "status": "timeout", "killed_by": killers, "detail": f"over {limit:.1f} s"})
        else:
            emit({"id": mutant["id"], "status": "killed" if killers else "survived", "killed_by": killers})


def _run_items(items, stop_early, watch=None):
    """The node ids of the tests that failed (the first one only, with `stop_early`). With `watch`
    (a code object, a set), the node ids of the tests that call that code are added to the set: a
    test that never calls the function cannot notice its mutants."""
    from _pytest.runner import runtestprotocol

    failed = []
    for index, item in enumerate(items):
        following = items[index + 1] if index + 1 < len(items) else None
        if watch is not None:
            _watch_calls(watch[0], watch[1], item.nodeid)
        try:
            reports = runtestprotocol(item, nextitem=following, log=False)
        finally:
            if watch is not None:
                sys.setprofile(None)
                threading.setprofile(None)
        if any(report.failed for report in reports):
            failed.append(item.nodeid)
            if stop_early and following is not None:
                item.session._setupstate.teardown_exact(None)
                break
    return failed


def _watch_calls(code, reached, node_id):
    def profile(frame, event, _arg):
        if event == "call" and frame.f_code is code:
            reached.add(node_id)

    sys.setprofile(profile)
    threading.setprofile(profile)


def _function(module_name, qualified_name):
    owner = importlib.import_module(module_name)
    *classes, name = qualified_name.split(".")
    for class_name in classes:
        owner = vars(owner)[class_name]
    found = vars(owner)[name]
    if isinstance(found, (staticmethod, classmethod)):
        found = found.__func__
    return inspect.unwrap(found)


def _compile(function, source, plan):
    """The mutant as a function object compiled against the module's globals (a copy: nothing in the
    module changes), inside a class when the target is a method, so `super()` finds its `__class__`."""
    module = inspect.getmodule(function)
    namespace = dict(vars(module))
    name = plan["qualified_name"].rsplit(".", 1)[-1]
    in_class = "." in plan["qualified_name"]
    first_line = plan["start_line"] - (1 if in_class else 0)
    text = source if not in_class else f"class {_HOST}:\n" + textwrap.indent(source, "    ")
    code = compile("\n" * max(first_line - 1, 0) + text, getattr(module, "__file__", None) or "<mutant>", "exec")
    exec(code, namespace)
    compiled = vars(namespace[_HOST])[name] if in_class else namespace[name]
    if isinstance(compiled, (staticmethod, classmethod)):
        compiled = compiled.__func__
    return inspect.unwrap(compiled)
