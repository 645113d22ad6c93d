"""Why a test is flaky: the likely root cause, from three kinds of evidence.

- how it behaves across runs: alone versus in the suite, and after which tests (strongest: it is
  observed, not guessed);
- what its failures say: timeouts, refused connections, "Too many open files", `0.30000000000000004`;
- what its code does, read with tree-sitter: sleeps, unseeded randomness, the clock, threads,
  sockets, files opened outside `with`, exact float comparisons, writes to module-level state.

Each piece of evidence adds weight to a cause; the heaviest wins, and the evidence is kept to explain
the verdict. The classes follow the empirical studies of flaky tests (Luo et al., FSE 2014; Gruber
et al., ICST 2021): timing/async wait, randomness, test order dependency, shared state, network,
time and date, concurrency, resource leaks, floating point.
"""

from __future__ import annotations

import enum
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from tree_sitter import Node

from aqe.flaky.scoring import OrderEvidence, OrderKind, TestScore, duration_spread
from aqe.parsing.languages import Language, parser_for


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
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    RootCause.TIMING: "timing-dependent",
    RootCause.RANDOMNESS: "random",
    RootCause.ORDER_DEPENDENCY: "order-dependent",
    RootCause.SHARED_STATE: "shared state",
    RootCause.NETWORK: "network-dependent",
    RootCause.TIME_DATE: "date/time-dependent",
    RootCause.CONCURRENCY: "a race between threads",
    RootCause.RESOURCE_LEAK: "a resource leak",
    RootCause.FLOATING_POINT: "floating-point rounding",
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
    RootCause.UNKNOWN: "rerun it alone and in the suite to see what changes its outcome",
}

_MESSAGE_PATTERNS: tuple[tuple[RootCause, re.Pattern[str], str], ...] = tuple(
    (cause, re.compile(pattern, re.IGNORECASE), label)
    for cause, pattern, label in (
        (RootCause.NETWORK, r"connection ?(refused|reset|aborted|error)|ECONNREFUSED|ECONNRESET|ENOTFOUND|"
         r"urlopen error|HTTP ?Error|getaddrinfo|Name or service not known|socket\.(timeout|error)|"
         r"Remote ?Disconnected|requests\.exceptions|httpx\.|503 Service|502 Bad Gateway|urllib[./]|"
         r"http[./]client|socket\.py|ssl\.py", "a network error"),
        (RootCause.TIMING, r"timed? ?out|timeout|deadline exceeded|took too long|not (yet )?(ready|done|finished)",
         "a timeout or something not ready in time"),
        (RootCause.RESOURCE_LEAK, r"too many open files|EMFILE|ResourceWarning|unclosed|address already in use|"
         r"EADDRINUSE|leak", "an exhausted or leaked resource"),
        (RootCause.FLOATING_POINT, r"\d\.\d*?(0000000\d|9999999\d)|approx|isclose|\d+\.\d+e-\d+",
         "a number off by a rounding error"),
        (RootCause.CONCURRENCY, r"deadlock|race|changed size during iteration|concurrent|lock", "a concurrency error"),
        (RootCause.TIME_DATE, r"datetime|timezone|tzinfo|\bdate\b|\d{4}-\d\d-\d\d|utc", "dates or times"),
        (RootCause.RANDOMNESS, r"random|seed|Falsifying example|shuffle", "random values"),
    )
)  # fmt: skip

_PY_CALLS: dict[RootCause, tuple[str, ...]] = {
    RootCause.TIMING: ("time.sleep", "sleep", "asyncio.sleep", "wait_for", "time.perf_counter", "time.monotonic"),
    RootCause.RANDOMNESS: ("random.", "randint", "uuid.uuid4", "uuid4", "secrets.", "os.urandom", "shuffle", "choice"),
    RootCause.NETWORK: ("socket.", "create_connection", "urlopen", "urllib.", "requests.", "httpx.", "http.client",
                        "aiohttp.", "HTTPConnection", "HTTPServer", "ftplib.", "smtplib."),
    RootCause.TIME_DATE: ("datetime.now", "datetime.utcnow", "datetime.today", "date.today", "time.time",
                          "time.localtime", "time.gmtime", "strftime", "now"),
    RootCause.CONCURRENCY: ("threading.Thread", "Thread", "ThreadPoolExecutor", "ProcessPoolExecutor",
                            "multiprocessing.", "asyncio.gather", "concurrent.futures", "submit"),
    RootCause.RESOURCE_LEAK: ("resource.setrlimit", "tempfile.mkstemp", "subprocess.Popen", "mmap."),
}  # fmt: skip
_JS_CALLS: dict[RootCause, tuple[str, ...]] = {
    RootCause.TIMING: ("setTimeout", "sleep", "waitFor", "delay", "performance.now"),
    RootCause.RANDOMNESS: ("Math.random", "crypto.randomUUID", "faker.", "shuffle"),
    RootCause.NETWORK: ("fetch", "axios.", "http.get", "http.request", "net.connect", "WebSocket", "supertest"),
    RootCause.TIME_DATE: ("Date.now", "new Date", "Date", "moment", "dayjs"),
    RootCause.CONCURRENCY: ("Promise.all", "Promise.race", "Worker", "setImmediate"),
}

_MUTATING_METHODS = frozenset({"append", "extend", "insert", "update", "setdefault", "pop", "clear", "add", "remove"})


@dataclass(frozen=True)
class CodeFeatures:
    """What the test's code does that can make a test nondeterministic."""

    calls: tuple[str, ...] = ()
    float_equalities: int = 0
    bare_opens: int = 0
    global_writes: tuple[str, ...] = ()
    environment_writes: int = 0
    seeded: bool = False


@dataclass(frozen=True)
class Classification:
    cause: RootCause
    confidence: float
    evidence: tuple[str, ...]
    scores: dict[RootCause, float] = field(default_factory=dict, hash=False)

    def explanation(self) -> str:
        """`likely order-dependent: fails when run without ...`."""
        if self.cause is RootCause.UNKNOWN:
            return "cause unclear"
        first = self.evidence[0] if self.evidence else ""
        return f"likely {self.cause.label}: {first}" if first else f"likely {self.cause.label}"


def _text(node: Node | None) -> str:
    return node.text.decode("utf-8", "replace") if node is not None and node.text else ""


def _walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def code_features(source: str, language: Language) -> CodeFeatures:
    tree = parser_for(language).parse(source.encode("utf-8", "surrogatepass"))
    calls: list[str] = []
    float_equalities = bare_opens = environment_writes = 0
    global_writes: list[str] = []
    local_names: set[str] = set()
    seeded = False
    nodes = list(_walk(tree.root_node))
    if language is Language.PYTHON:
        for node in nodes:
            if node.type == "assignment":
                left = node.child_by_field_name("left")
                if left is not None and left.type == "identifier":
                    local_names.add(_text(left))
            elif node.type in ("parameters", "lambda_parameters"):
                local_names.update(_text(child) for child in node.named_children if child.type == "identifier")
    for node in nodes:
        if node.type in ("call", "call_expression", "new_expression"):
            callee = _text(node.child_by_field_name("function") or node.child_by_field_name("constructor"))
            if node.type == "new_expression":
                callee = "new " + callee
            calls.append(callee)
            if callee.endswith("seed") or callee in ("random.Random", "Random", "np.random.default_rng"):
                arguments = node.child_by_field_name("arguments")
                seeded = seeded or (arguments is not None and arguments.named_child_count > 0)
            if callee == "open" and not _inside(node, ("with_item", "with_clause")):
                bare_opens += 1
            if language is Language.PYTHON and callee.count(".") == 1:
                owner, method = callee.split(".")
                if method in _MUTATING_METHODS and owner not in local_names and owner not in ("self", "cls"):
                    global_writes.append(owner)
        elif node.type in ("comparison_operator", "binary_expression") and _is_float_equality(node):
            float_equalities += 1
        elif node.type == "global_statement":
            global_writes.extend(_text(child) for child in node.named_children)
        elif node.type in ("assignment", "augmented_assignment", "assignment_expression"):
            left = node.child_by_field_name("left")
            target = _text(left)
            if "environ" in target or target.startswith("process.env"):
                environment_writes += 1
            elif left is not None and left.type in ("subscript", "attribute"):
                base = _text(left.child_by_field_name("value") or left.child_by_field_name("object"))
                if base and base.split(".")[0] not in local_names and base not in ("self", "cls"):
                    global_writes.append(base)
    return CodeFeatures(
        calls=tuple(calls),
        float_equalities=float_equalities,
        bare_opens=bare_opens,
        global_writes=tuple(dict.fromkeys(global_writes)),
        environment_writes=environment_writes,
        seeded=seeded,
    )


def _inside(node: Node, types: tuple[str, ...]) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.type in types:
            return True
        if parent.type in ("function_definition", "block"):
            return False
        parent = parent.parent
    return False


def _is_float_equality(node: Node) -> bool:
    operators = [_text(child) for child in node.children if not child.is_named]
    if not any(op in ("==", "!=", "===", "!==") for op in operators):
        return False
    return any(_has_float(child) for child in node.named_children)


def _has_float(node: Node) -> bool:
    if node.type == "float" or (node.type == "number" and "." in _text(node)):
        return True
    if node.type == "call" and _text(node.child_by_field_name("function")) in ("sum", "math.fsum", "float"):
        return True
    if node.type in ("binary_operator", "binary_expression") and "/" in _text(node):
        return True
    return any(
        _has_float(child)
        for child in node.named_children
        if node.type in ("binary_operator", "binary_expression", "parenthesized_expression")
    )


def _matches(call: str, pattern: str) -> bool:
    """`random.` matches anything in that module; `sleep` and `datetime.now` match the name itself or
    the end of a longer path (`time.sleep`, `datetime.datetime.now`)."""
    if pattern.endswith("."):
        return call.startswith(pattern) or ("." + pattern) in ("." + call)
    return call == pattern or call.endswith("." + pattern)


def classify(
    score: TestScore, order: OrderEvidence | None, source: str | None, language: Language | None
) -> Classification:
    weights: dict[RootCause, float] = defaultdict(float)
    evidence: dict[RootCause, list[str]] = defaultdict(list)

    def add(cause: RootCause, weight: float, why: str) -> None:
        weights[cause] += weight
        evidence[cause].append(why)

    if order is not None:
        if order.kind is OrderKind.POLLUTED:
            add(RootCause.SHARED_STATE, 6.0, order.detail)
        elif order.kind is OrderKind.NEEDS_EARLIER:
            add(RootCause.ORDER_DEPENDENCY, 6.0, order.detail)
        elif order.kind is OrderKind.PASSES_ALONE:
            add(RootCause.SHARED_STATE, 2.5, order.detail)
        elif order.kind is OrderKind.FAILS_ALONE:
            add(RootCause.ORDER_DEPENDENCY, 2.5, order.detail)

    messages = "\n".join(score.messages)
    for cause, pattern, label in _MESSAGE_PATTERNS:
        match = pattern.search(messages)
        if match:
            add(cause, 2.0, f"its failures mention {label} ({match.group(0).strip()!r})")

    if source and language is not None:
        features = code_features(source, language)
        table = _PY_CALLS if language is Language.PYTHON else _JS_CALLS
        for cause, patterns in table.items():
            hits = sorted({call for call in features.calls for pattern in patterns if _matches(call, pattern)})
            if cause is RootCause.RANDOMNESS and features.seeded:
                continue
            if hits:
                add(cause, min(3.0, 1.5 * len(hits)), f"it calls {', '.join(f'`{h}`' for h in hits[:3])}")
        if features.float_equalities:
            add(RootCause.FLOATING_POINT, 2.0, "it compares floating-point values with `==`")
        if features.bare_opens:
            add(RootCause.RESOURCE_LEAK, 1.5 * features.bare_opens, "it opens files outside a `with` block")
        if features.global_writes:
            shown = ", ".join(f"`{name}`" for name in features.global_writes[:3])
            add(RootCause.SHARED_STATE, 1.5, f"it changes state outside the test ({shown})")
        if features.environment_writes:
            add(RootCause.SHARED_STATE, 1.5, "it changes environment variables")

    spread = duration_spread(score)
    if spread is not None and spread > 1.0:
        add(RootCause.TIMING, 0.5, f"its duration varies a lot between runs (spread {spread:.1f})")
    if score.fail_durations and score.pass_durations:
        slow = min(score.fail_durations) > 2 * max(score.pass_durations)
        if slow:
            add(RootCause.TIMING, 1.0, "its failing runs take much longer than its passing ones (it waits, then fails)")

    if not weights:
        return Classification(RootCause.UNKNOWN, 0.0, (), {})
    ranked = sorted(weights.items(), key=lambda item: (-item[1], list(RootCause).index(item[0])))
    cause, best = ranked[0]
    total = sum(weights.values())
    confidence = round(best / total * min(1.0, best / 4.0), 3)
    return Classification(cause, confidence, tuple(evidence[cause]), dict(weights))
