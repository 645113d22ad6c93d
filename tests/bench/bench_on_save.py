"""On-save diagnostics latency through the running language server, against a bare tree-sitter parse.

Starts `python -m aqe serve` (stdio) as a push-diagnostics client would, opens a real ~2,000-line
Python file from the standard library, then repeatedly edits it (didChange) and saves it (didSave),
timing didSave -> publishDiagnostics for that document version. In the same process it times a bare
tree-sitter parse of the same bytes and the engine without the LSP, so the ratio compares like with
like on this machine and the rows show where the time goes.

The debounced analysis after didChange is pushed out of the way (AQE_DIAGNOSTICS_DEBOUNCE_MS=10000),
so every publish measured is the one the save triggered. didChange goes out just before didSave, so
its incremental reparse falls inside the measured time, as it does for an editor that saves on edit.

    python tests/bench/bench_on_save.py [--runs 200] [--warmup 20] [--file PATH] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import queue
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import tree_sitter
import tree_sitter_python
from bench_support import cpu_model

from aqe import __version__ as aqe_version
from aqe.config import Settings
from aqe.engine import Engine
from aqe.parsing.document import ParsedDocument
from aqe.parsing.languages import Language

GOAL_P95_MS = 50.0
GOAL_RATIO = 3.0
DEBOUNCE_OUT_OF_THE_WAY_MS = "10000"
TARGET_LINES = 2000
# Stable across CPython 3.10-3.13 and about 2,000 lines; the fallback is the stdlib module nearest 2,000.
PREFERRED_STDLIB_FILE = "difflib.py"
RESPONSE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Stats:
    name: str
    runs: int
    p50_ms: float
    p95_ms: float
    max_ms: float


def percentile(sorted_ns: Sequence[int], fraction: float) -> int:
    """Nearest-rank percentile: a value that was actually measured."""
    rank = max(1, math.ceil(fraction * len(sorted_ns)))
    return sorted_ns[rank - 1]


def stats_of(name: str, samples_ns: Sequence[int]) -> Stats:
    ordered = sorted(samples_ns)
    return Stats(
        name=name,
        runs=len(ordered),
        p50_ms=percentile(ordered, 0.50) / 1e6,
        p95_ms=percentile(ordered, 0.95) / 1e6,
        max_ms=ordered[-1] / 1e6,
    )


def time_calls(call: Callable[[], object], runs: int, warmup: int) -> list[int]:
    for _ in range(warmup):
        call()
    samples: list[int] = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - start)
    return samples


# --- the file and the machine ------------------------------------------------------------------------


def find_stdlib_file() -> Path:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    preferred = stdlib / PREFERRED_STDLIB_FILE
    if preferred.is_file():
        return preferred
    candidates = [path for path in stdlib.glob("*.py") if path.is_file()]
    if not candidates:
        raise FileNotFoundError(f"no Python files in the standard library at {stdlib}")
    return min(candidates, key=lambda path: abs(count_lines(path.read_text(encoding="utf-8")) - TARGET_LINES))


def count_lines(text: str) -> int:
    return len(text.splitlines())


def machine() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "tree_sitter": _package_version("tree-sitter"),
        "tree_sitter_python": _package_version("tree-sitter-python"),
        "aqe": aqe_version,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


# --- a minimal LSP client over stdio ----------------------------------------------------------------


class ServerFailed(RuntimeError):
    """The server exited, broke the protocol or did not answer in time."""


class StdioLspClient:
    """Just enough LSP for the benchmark. A reader thread stamps each message as its body arrives,
    so the latency does not include the time the main thread takes to wake up."""

    def __init__(self, command: Sequence[str], env: dict[str, str], stderr: IO[bytes]) -> None:
        self.process = subprocess.Popen(
            list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env
        )
        self._next_id = 0
        self._inbox: queue.Queue[tuple[int, dict[str, Any] | None]] = queue.Queue()
        self._reader = threading.Thread(target=self._read_messages, name="lsp-reader", daemon=True)
        self._reader.start()

    def send(self, message: dict[str, Any]) -> int:
        """Write one framed message; returns perf_counter_ns taken just after the flush."""
        body = json.dumps(message).encode("utf-8")
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()
        return time.perf_counter_ns()

    def notify(self, method: str, params: Any) -> int:
        return self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: Any) -> Any:
        self._next_id += 1
        request_id = self._next_id
        self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        _, response = self.wait_for(lambda message: message.get("id") == request_id and "method" not in message)
        if "error" in response:
            raise ServerFailed(f"{method} failed: {response['error']}")
        return response.get("result")

    def wait_for(self, wanted: Callable[[dict[str, Any]], bool]) -> tuple[int, dict[str, Any]]:
        """The first message `wanted` accepts and when it arrived; answers server requests meanwhile."""
        deadline = time.monotonic() + RESPONSE_TIMEOUT_S
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ServerFailed(f"no expected message within {RESPONSE_TIMEOUT_S:.0f} s")
            try:
                arrived_ns, message = self._inbox.get(timeout=remaining)
            except queue.Empty:
                continue
            if message is None:
                raise ServerFailed(f"the server closed its stdout (exit code {self.process.poll()})")
            if "method" in message and "id" in message:
                # workspace/configuration, client/registerCapability...: null is always acceptable.
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
                continue
            if wanted(message):
                return arrived_ns, message

    def shutdown(self) -> None:
        self.request("shutdown", None)
        self.notify("exit", None)
        self.process.wait(timeout=10)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def _read_messages(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while True:
                length = None
                while True:
                    line = stdout.readline()
                    if not line:
                        return
                    if line == b"\r\n":
                        break
                    name, _, value = line.decode("ascii").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                if length is None:
                    raise ServerFailed("a frame without Content-Length")
                body = stdout.read(length)
                arrived_ns = time.perf_counter_ns()
                self._inbox.put((arrived_ns, json.loads(body)))
        finally:
            self._inbox.put((time.perf_counter_ns(), None))


def server_environment(config_home: str) -> dict[str, str]:
    """Defaults only: none of the developer's AQE_* variables or user config, and no debounced run."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AQE_")}
    env["XDG_CONFIG_HOME"] = config_home
    env["AQE_DIAGNOSTICS_DEBOUNCE_MS"] = DEBOUNCE_OUT_OF_THE_WAY_MS
    return env


def end_position(text: str) -> dict[str, int]:
    """The LSP position just past the last character (UTF-16 columns)."""
    last_line = text.rsplit("\n", 1)[-1]
    return {"line": text.count("\n"), "character": len(last_line.encode("utf-16-le")) // 2}


@dataclass(frozen=True)
class ServerTimings:
    save_to_publish_ns: list[int]
    findings: int


def measure_server(path: Path, text: str, runs: int, warmup: int, stderr: IO[bytes]) -> ServerTimings:
    uri = path.as_uri()
    appended_at = end_position(text)
    append = {"range": {"start": appended_at, "end": appended_at}, "text": "\n"}
    remove = {
        "range": {"start": appended_at, "end": {"line": appended_at["line"] + 1, "character": 0}},
        "text": "",
    }

    def diagnostics_of(version: int) -> Callable[[dict[str, Any]], bool]:
        return lambda message: (
            message.get("method") == "textDocument/publishDiagnostics"
            and message["params"]["uri"] == uri
            and message["params"].get("version") == version
        )

    with tempfile.TemporaryDirectory(prefix="aqe-bench-config-") as config_home:
        client = StdioLspClient([sys.executable, "-m", "aqe", "serve"], server_environment(config_home), stderr)
        try:
            root = path.parent.as_uri()
            client.request(
                "initialize",
                {
                    "processId": os.getpid(),
                    "rootUri": root,
                    "workspaceFolders": [{"uri": root, "name": path.parent.name}],
                    # No textDocument.diagnostic: the server must push publishDiagnostics.
                    "capabilities": {"textDocument": {"synchronization": {"didSave": True}}},
                },
            )
            client.notify("initialized", {})
            client.notify(
                "textDocument/didOpen",
                {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}},
            )
            _, first = client.wait_for(diagnostics_of(1))
            findings = len(first["params"]["diagnostics"])

            save_samples: list[int] = []
            for index in range(warmup + runs):
                version = index + 2
                edit = append if index % 2 == 0 else remove
                client.notify(
                    "textDocument/didChange",
                    {"textDocument": {"uri": uri, "version": version}, "contentChanges": [edit]},
                )
                saved_ns = client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
                arrived_ns, published = client.wait_for(diagnostics_of(version))
                if len(published["params"]["diagnostics"]) != findings:
                    raise ServerFailed(
                        f"version {version}: {len(published['params']['diagnostics'])} diagnostics, expected {findings}"
                    )
                if index >= warmup:
                    save_samples.append(arrived_ns - saved_ns)
            client.shutdown()
        finally:
            client.kill()
    return ServerTimings(save_samples, findings)


# --- report --------------------------------------------------------------------------------------------


def markdown_table(rows: Sequence[Stats], parse: Stats) -> str:
    lines = [
        "| measurement | runs | p50 ms | p95 ms | max ms | p50 / parse p50 | p95 / parse p95 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.name} | {row.runs} | {row.p50_ms:.2f} | {row.p95_ms:.2f} | {row.max_ms:.2f} "
            f"| {row.p50_ms / parse.p50_ms:.1f}x | {row.p95_ms / parse.p95_ms:.1f}x |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, help="the Python file to analyse (default: found in the stdlib)")
    parser.add_argument("--runs", type=int, default=200, help="measured runs per row (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="runs before measuring, not counted (default 20)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup at least 0")

    path = (args.file or find_stdlib_file()).resolve()
    data = path.read_bytes()
    text = data.decode("utf-8")
    host = machine()
    print(f"file: {path} ({count_lines(text)} lines, {len(data)} bytes)")
    print(f"machine: {host['cpu']}, {host['cores']} cores, Python {host['python']}, {host['date']}")
    print(f"runs: {args.runs} measured after {args.warmup} warm-up; server debounce {DEBOUNCE_OUT_OF_THE_WAY_MS} ms")

    ts_parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_python.language()))
    parse_ns = time_calls(lambda: ts_parser.parse(data), args.runs, args.warmup)

    engine = Engine(Settings())
    parsed = ParsedDocument.parse(str(path), text, Language.PYTHON)
    rules_ns = time_calls(lambda: engine.analyze_document(parsed), args.runs, args.warmup)
    analyze_ns = time_calls(lambda: engine.analyze_text(str(path), text), args.runs, args.warmup)
    engine_findings = len(engine.analyze_text(str(path), text).findings)

    with tempfile.TemporaryFile(prefix="aqe-bench-stderr-") as stderr:
        try:
            server = measure_server(path, text, args.runs, args.warmup, stderr)
        except ServerFailed:
            stderr.seek(0)
            sys.stderr.write(stderr.read().decode("utf-8", "replace")[-4000:])
            raise

    parse = stats_of("bare tree-sitter parse", parse_ns)
    rows = [
        parse,
        stats_of("engine rules only, pre-parsed (in-process)", rules_ns),
        stats_of("engine parse + rules, analyze_text (in-process)", analyze_ns),
        stats_of("server: didSave -> publishDiagnostics", server.save_to_publish_ns),
    ]
    on_save = rows[-1]
    p95_ratio = on_save.p95_ms / parse.p95_ms
    p50_ratio = on_save.p50_ms / parse.p50_ms
    p95_goal_met = on_save.p95_ms < GOAL_P95_MS
    ratio_goal_met = p95_ratio <= GOAL_RATIO and p50_ratio <= GOAL_RATIO

    print()
    print(markdown_table(rows, parse))
    print()
    print(f"findings: {server.findings} published by the server, {engine_findings} from the engine in-process")
    print(f"goal p95 < {GOAL_P95_MS:.0f} ms: {'met' if p95_goal_met else 'NOT met'} ({on_save.p95_ms:.2f} ms)")
    print(
        f"goal <= {GOAL_RATIO:.0f}x bare parse (p50 and p95): {'met' if ratio_goal_met else 'NOT met'} "
        f"(p50 {p50_ratio:.2f}x, p95 {p95_ratio:.2f}x)"
    )

    if args.json:
        results = {
            "file": {"path": str(path), "lines": count_lines(text), "bytes": len(data)},
            "machine": host,
            "runs": args.runs,
            "warmup": args.warmup,
            "server_debounce_ms": int(DEBOUNCE_OUT_OF_THE_WAY_MS),
            "rows": [asdict(row) for row in rows],
            "ratio_p95_server_to_parse": p95_ratio,
            "ratio_p50_server_to_parse": p50_ratio,
            "findings": {"server": server.findings, "engine": engine_findings},
            "goals": {
                "p95_under_ms": GOAL_P95_MS,
                "p95_met": p95_goal_met,
                "max_ratio_to_parse": GOAL_RATIO,
                "ratio_met": ratio_goal_met,
            },
        }
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
