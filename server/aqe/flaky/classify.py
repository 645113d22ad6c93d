"""Why a test is flaky, from evidence: what the reruns showed, what the failures show, and what the
test and the code it calls do. The classes follow the empirical studies of flaky tests (Luo et al.,
FSE 2014; iDFlakies, FlakeFlagger, FlaPy).

- Reruns weigh most (observed, not guessed): passes alone but fails right after a named test (found
  by bisection) is shared state that test leaves behind; fails alone but passes after one is a
  dependency on it; fails alone too, in every order, says the order is not the cause.
- Failures weigh next, by structure: the exception's type and errno, the frames it came through
  (socket.py, asyncio), and the values an assertion compared (a float off in its last digits, the
  same elements in another order, epoch clock readings).
- Code facts (aqe.flaky.evidence) weigh least and more the nearer they are to the test; a fact in a
  function the failure came through counts again.
A test's name or a failure message's wording never decides. The model is asked only when two causes
are tied on the evidence, and its choice is labelled as such.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aqe.flaky.evidence import Category, StaticFact
from aqe.flaky.failures import FailureFacts, value_difference
from aqe.flaky.scoring import OrderEvidence, OrderKind, TestScore


class RootCause(str, enum.Enum):
    TIMING = "timing"
    RANDOMNESS = "randomness"
    ORDER_DEPENDENCY = "order-dependency"
    SHARED_STATE = "shared-state"
    NETWORK = "network"
    TIME_DATE = "time-date"
    CONCURRENCY = "concurrency"
    RESOURCE_LEAK = "resource-leak"
    FLOATING_POINT = "floating-point"
    IO = "io"
    UNORDERED_COLLECTION = "unordered-collection"
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    RootCause.TIMING: "timing-dependent (waits a fixed time)",
    RootCause.RANDOMNESS: "random",
    RootCause.ORDER_DEPENDENCY: "order-dependent",
    RootCause.SHARED_STATE: "polluted by shared state",
    RootCause.NETWORK: "network-dependent",
    RootCause.TIME_DATE: "date/time-dependent",
    RootCause.CONCURRENCY: "a race between threads",
    RootCause.RESOURCE_LEAK: "a resource leak",
    RootCause.FLOATING_POINT: "floating-point rounding",
    RootCause.IO: "file-system-dependent",
    RootCause.UNORDERED_COLLECTION: "unordered-collection order",
    RootCause.UNKNOWN: "cause unclear",
}

ADVICE = {
    RootCause.TIMING: "wait for the condition (an event, a poll with a deadline) instead of a fixed sleep",
    RootCause.RANDOMNESS: "seed the generator or inject it, so every run draws the same values",
    RootCause.ORDER_DEPENDENCY: "let the test create what it needs (a fixture) instead of relying on an earlier test",
    RootCause.SHARED_STATE: "reset the shared state after the test that changes it (a fixture or monkeypatch)",
    RootCause.NETWORK: "replace the remote service with a local fake, or give it a generous, explicit timeout",
    RootCause.TIME_DATE: "freeze or inject the clock instead of reading the current time",
    RootCause.CONCURRENCY: "protect the shared data with a lock, or join the threads before asserting",
    RootCause.RESOURCE_LEAK: "close what the test opens (`with` blocks, fixtures with teardown)",
    RootCause.FLOATING_POINT: "compare with a tolerance (`pytest.approx`, `math.isclose`) and a fixed order",
    RootCause.IO: "give the test its own files (`tmp_path`) and wait for writes to finish before reading",
    RootCause.UNORDERED_COLLECTION: "sort before comparing, or compare as sets, instead of relying on iteration order",
    RootCause.UNKNOWN: "rerun it alone and in the suite to see what changes its outcome",
}

_DEPTH_WEIGHT = {0: 2.0, 1: 1.5, 2: 1.0}
_STATIC_CAP = 3.0
_DURATION_CLOCKS = ("time.monotonic", "time.perf_counter")
_NETWORK_EXCEPTIONS = frozenset({
    "ConnectionError", "ConnectionRefusedError", "ConnectionResetError", "ConnectionAbortedError", "BrokenPipeError",
    "socket.timeout", "socket.gaierror", "gaierror", "URLError", "urllib.error.URLError", "HTTPError",
    "urllib.error.HTTPError", "http.client.RemoteDisconnected", "RemoteDisconnected", "ssl.SSLError",
})  # fmt: skip
_NETWORK_MODULES = ("socket.py", "ssl.py", "client.py", "request.py", "connection.py", "connectionpool.py")
_IO_EXCEPTIONS = frozenset({"FileNotFoundError", "FileExistsError", "PermissionError", "IsADirectoryError",
                            "NotADirectoryError", "UnicodeDecodeError", "json.decoder.JSONDecodeError",
                            "JSONDecodeError"})  # fmt: skip
_IO_ERRNOS = frozenset({2, 13, 17, 20, 21, 39})
_FILE_LIMIT_ERRNOS = frozenset({23, 24})  # ENFILE, EMFILE: out of file descriptors
_ASYNC_MODULES = ("tasks.py", "timeouts.py", "base_events.py", "futures.py")

TieBreaker = Callable[[Sequence["RootCause"], str], "RootCause | None"]
"""(the tied causes, the evidence as text) -> the model's choice among them, or None."""


@dataclass(frozen=True)
class Classification:
    cause: RootCause
    confidence: float
    evidence: tuple[str, ...]
    scores: dict[RootCause, float] = field(default_factory=dict, hash=False)
    decided_by: str = "evidence"
    """"evidence", or "model (tie-breaker)" when the evidence left two causes tied."""

    def explanation(self) -> str:
        """`likely order-dependent: fails when run without ...`."""
        if self.cause is RootCause.UNKNOWN:
            return "cause unclear"
        first = self.evidence[0] if self.evidence else ""
        return f"likely {self.cause.label}: {first}" if first else f"likely {self.cause.label}"

    @property
    def fix(self) -> str:
        return ADVICE[self.cause]


def _static_cause(fact: StaticFact) -> tuple[RootCause, float] | None:
    weight = _DEPTH_WEIGHT.get(fact.depth, 0.5)
    category = fact.category
    if category is Category.CLOCK:
        duration = fact.code.startswith(_DURATION_CLOCKS)
        return (RootCause.TIMING if duration else RootCause.TIME_DATE), weight
    if category is Category.SLEEP:
        # A fixed wait by the test (or its fixture) is what times out; a sleep deep in the code under
        # test only makes that code slow.
        return (RootCause.TIMING, weight) if fact.depth <= 1 else None
    table = {
        Category.RANDOM: (RootCause.RANDOMNESS, 1.0),
        Category.THREADS: (RootCause.CONCURRENCY, 1.0),
        Category.PROCESSES: (RootCause.CONCURRENCY, 0.75),
        Category.ASYNCIO: (RootCause.TIMING, 0.75),
        Category.NETWORK: (RootCause.NETWORK, 1.0),
        Category.FILES: (RootCause.IO, 0.75),
        Category.UNCLOSED: (RootCause.RESOURCE_LEAK, 1.25),
        Category.ENVIRONMENT: (RootCause.SHARED_STATE, 0.5),
        Category.SHARED_WRITE: (RootCause.SHARED_STATE, 0.25),
        Category.UNORDERED: (RootCause.UNORDERED_COLLECTION, 0.75),
        Category.FLOAT: (RootCause.FLOATING_POINT, 1.0),
    }
    if category not in table:
        return None
    cause, factor = table[category]
    return cause, weight * factor


def _failure_causes(failure: FailureFacts) -> list[tuple[RootCause, float, str]]:
    found: list[tuple[RootCause, float, str]] = []
    exception = failure.exception or ""
    short = exception.rsplit(".", 1)[-1]
    modules = failure.modules
    through = [m for m in modules if m in _NETWORK_MODULES]
    if failure.errno in _FILE_LIMIT_ERRNOS:
        found.append((RootCause.RESOURCE_LEAK, 4.0, f"it fails with {exception} errno {failure.errno} (no file "
                                                    "descriptors left)"))  # fmt: skip
    elif (
        exception in _NETWORK_EXCEPTIONS
        or short in _NETWORK_EXCEPTIONS
        or (through and short.endswith(("Error", "timeout", "Timeout")))
    ):
        path = f" through {', '.join(dict.fromkeys(through))}" if through else ""
        found.append((RootCause.NETWORK, 4.0, f"it fails with {exception}{path}"))
    elif short == "ResourceWarning":
        found.append((RootCause.RESOURCE_LEAK, 3.0, "it fails with a ResourceWarning"))
    elif short in _IO_EXCEPTIONS or failure.errno in _IO_ERRNOS:
        found.append((RootCause.IO, 3.5, f"it fails with {exception} from the file system"))
    elif short in ("TimeoutError", "CancelledError") and any(m in _ASYNC_MODULES for m in modules):
        found.append((RootCause.TIMING, 3.0, f"it fails with {exception} raised while awaiting (asyncio)"))
    elif short == "TimeoutError":
        found.append((RootCause.TIMING, 2.0, f"it fails with {exception}"))
    return found


def classify(
    score: TestScore,
    order: OrderEvidence | None,
    facts: Sequence[StaticFact],
    failures: Sequence[FailureFacts],
    tie_breaker: TieBreaker | None = None,
) -> Classification:
    weights: dict[RootCause, float] = defaultdict(float)
    evidence: dict[RootCause, list[str]] = defaultdict(list)

    def add(cause: RootCause, weight: float, why: str) -> None:
        weights[cause] += weight
        if why not in evidence[cause]:
            evidence[cause].append(why)

    steady = _steady_rate(score)
    if order is not None and steady is None:
        # Confirmed by runs made to test it, order outweighs everything; read from co-occurrence in suite
        # runs only (one of many tests before a flake can precede every failure by chance), it weighs less
        # than one thing the code does (1.5) and far less than the values a failure compared (4).
        culprit_weight = 6.0 if order.confirmed else 1.25
        if order.kind is OrderKind.POLLUTED:
            add(RootCause.SHARED_STATE, culprit_weight, order.detail)
            _shared_between(order, facts, lambda why: add(RootCause.SHARED_STATE, 0.5, why))
        elif order.kind is OrderKind.NEEDS_EARLIER:
            add(RootCause.ORDER_DEPENDENCY, culprit_weight, order.detail)
            _shared_between(order, facts, lambda why: add(RootCause.ORDER_DEPENDENCY, 0.5, why))
        elif order.kind is OrderKind.PASSES_ALONE:
            add(RootCause.SHARED_STATE, 2.5, order.detail)
        elif order.kind is OrderKind.FAILS_ALONE:
            add(RootCause.ORDER_DEPENDENCY, 2.5, order.detail)

    failure_functions = {frame.function for failure in failures for frame in failure.frames if frame.function}
    for failure in failures[:5]:
        for cause, weight, why in _failure_causes(failure):
            add(cause, weight / max(1, min(len(failures), 5)), why)
    difference = value_difference(failures)
    if difference is not None and difference.kind is not None:
        cause = {
            "float-rounding": RootCause.FLOATING_POINT,
            "permutation": RootCause.UNORDERED_COLLECTION,
            "clock": RootCause.TIME_DATE,
        }[difference.kind]
        add(cause, 4.0, difference.describe())

    static: dict[RootCause, float] = defaultdict(float)
    for fact in facts:
        mapped = _static_cause(fact)
        if mapped is None:
            continue
        cause, weight = mapped
        if fact.function in failure_functions and fact.depth > 0:
            weight += 1.0
            why = f"{fact.describe()}, and the failure came through {fact.function}()"
        else:
            why = fact.describe()
        room = _STATIC_CAP - static[cause]
        if room > 0:
            static[cause] += min(room, weight)
            add(cause, min(room, weight), why)

    if score.fail_durations and score.pass_durations and min(score.fail_durations) > 2 * max(score.pass_durations):
        add(RootCause.TIMING, 1.5, f"it fails only when slow: failing runs took {min(score.fail_durations):.2f} s or "
                                   f"more, passing ones at most {max(score.pass_durations):.2f} s")  # fmt: skip
    if steady is not None:
        for cause in (RootCause.SHARED_STATE, RootCause.ORDER_DEPENDENCY):
            weights.pop(cause, None)
            evidence.pop(cause, None)
    if not weights:
        lines = (steady,) if steady else ()
        return Classification(RootCause.UNKNOWN, 0.0, lines, {})
    ranked = sorted(weights.items(), key=lambda item: (-item[1], list(RootCause).index(item[0])))
    cause, best = ranked[0]
    decided_by = "evidence"
    tied = [c for c, w in ranked if w >= best - 0.25]
    if len(tied) > 1 and tie_breaker is not None:
        summary = "\n".join(f"{c.value}: {'; '.join(evidence[c])}" for c in tied)
        choice = tie_breaker(tied, summary)
        if choice in tied and choice is not None:
            cause, best, decided_by = choice, weights[choice], "model (tie-breaker)"
    total = sum(weights.values())
    confidence = round(best / total * min(1.0, best / 5.0), 3)
    lines = list(evidence[cause])
    if steady:
        lines.append(steady)
    if decided_by != "evidence":
        lines.append(f"the evidence tied {', '.join(c.value for c in tied)}; the model chose {cause.value} "
                     "(tie-breaker, not evidence)")  # fmt: skip
    return Classification(cause, confidence, tuple(lines), dict(weights), decided_by)


def _steady_rate(score: TestScore) -> str | None:
    """Fails alone too, and both in the project's order and shuffled: order is not what decides."""
    alone = score.by_kind.get("isolated")
    suite = score.by_kind.get("suite")
    shuffled = score.by_kind.get("shuffled")
    if alone is None or not alone.failures or alone.failures == alone.runs:
        return None
    if suite is None or shuffled is None or not suite.failures or not shuffled.failures:
        return None
    return (
        f"fails at a steady rate whatever the order: {alone.failures}/{alone.runs} alone, "
        f"{suite.failures}/{suite.runs} in order, {shuffled.failures}/{shuffled.runs} shuffled"
    )


def _shared_between(order: OrderEvidence, facts: Sequence[StaticFact], add: Callable[[str], None]) -> None:
    """The module-level state this test reads: what the culprit most likely changed (or set up)."""
    reads = [fact for fact in facts if fact.category is Category.SHARED_READ]
    for fact in reads[:2]:
        add(f"{fact.describe()}, state that {order.culprit or 'another test'} can change")
