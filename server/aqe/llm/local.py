"""`LlamaCppProvider`: the local model, run in a worker process that native failures cannot escape.

llama.cpp can segfault (a build for the wrong CPU), abort on a corrupt file, be killed by the
out-of-memory killer, or hang. All of that happens in the worker (aqe.llm.llama_worker); this side
only turns it into errors a user can act on and restarts the worker on the next request, with a
growing delay between attempts so a build that always crashes does not spin. A watchdog kills a
worker that stops reporting progress. Cancellation answers the caller at once and tells the worker to
stop at its next token.
"""

from __future__ import annotations

import collections
import contextlib
import json
import mmap
import os
import queue
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from aqe.llm.llama_worker import EXIT_LOAD_FAILED, GGUF_MAGIC
from aqe.llm.types import (
    CancelToken,
    Completion,
    CompletionOptions,
    FinishReason,
    Prompt,
    ProviderError,
    ProviderInfo,
    ProviderTimeout,
    ProviderUnavailable,
    RequestCancelled,
    StreamChunk,
    new_request_id,
)

_POLL_S = 0.02
_DEFAULT_OPTIONS = CompletionOptions()
_SHUTDOWN_GRACE_S = 2.0
_MAX_BACKOFF_S = 60.0
_STDERR_TAIL_LINES = 40
_NATIVE_CRASH_SIGNALS = frozenset({"SIGSEGV", "SIGILL", "SIGBUS", "SIGABRT", "SIGFPE"})

LoadProgress = Callable[[int], None]
"""Called with the load percentage (0-100) while a worker loads its model."""


_SECRET_VARIABLE = re.compile(r"(API_KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)", re.IGNORECASE)


def physical_cores() -> int:
    """CPU cores (not hyperthreads) this process may use: llama.cpp runs slower with more threads."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    cores: set[tuple[str, str]] = set()
    try:
        physical = core = ""
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "physical id":
                physical = value.strip()
            elif key == "core id":
                core = value.strip()
                cores.add((physical, core))
    except OSError:
        pass
    count = len(cores) or usable
    return max(1, min(count, usable))


# --- GGUF metadata, read without loading the model ----------------------------------------------------

_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_GGUF_STRING, _GGUF_ARRAY = 8, 9


def read_gguf_metadata(path: Path, wanted: frozenset[str]) -> dict[str, object]:
    """The scalar and string values of `wanted` keys from a GGUF header (arrays are skipped).

    Decides whether a user's model is a chat model before any worker starts. Raises ValueError for a
    file that is not GGUF or whose header is cut short.
    """
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data[:4] != GGUF_MAGIC:
            raise ValueError(f"{path} is not a GGUF file")
        try:
            (version,) = struct.unpack_from("<I", data, 4)
            if version < 2:
                raise ValueError(f"{path} uses GGUF version {version}, too old to read")
            _tensors, kv_count = struct.unpack_from("<QQ", data, 8)
            offset = 24
            found: dict[str, object] = {}

            def read_string(at: int) -> tuple[str, int]:
                (length,) = struct.unpack_from("<Q", data, at)
                end = at + 8 + length
                if end > len(data):
                    raise ValueError("string past the end of the file")
                return data[at + 8 : end].decode("utf-8", "replace"), end

            def skip_value(kind: int, at: int) -> int:
                if kind in _GGUF_SCALARS:
                    return at + struct.calcsize(_GGUF_SCALARS[kind])
                if kind == _GGUF_STRING:
                    (length,) = struct.unpack_from("<Q", data, at)
                    return at + 8 + length
                if kind == _GGUF_ARRAY:
                    element, count = struct.unpack_from("<IQ", data, at)
                    at += 12
                    if element in _GGUF_SCALARS:
                        return at + count * struct.calcsize(_GGUF_SCALARS[element])
                    for _ in range(count):
                        at = skip_value(element, at)
                    return at
                raise ValueError(f"unknown GGUF value type {kind}")

            for _ in range(kv_count):
                key, offset = read_string(offset)
                (kind,) = struct.unpack_from("<I", data, offset)
                offset += 4
                if key in wanted and kind == _GGUF_STRING:
                    found[key], offset = read_string(offset)
                elif key in wanted and kind in _GGUF_SCALARS:
                    (found[key],) = struct.unpack_from(_GGUF_SCALARS[kind], data, offset)
                    offset = skip_value(kind, offset)
                else:
                    offset = skip_value(kind, offset)
                if len(found) == len(wanted):
                    break
            return found
        except struct.error as error:
            raise ValueError(f"{path} has a truncated GGUF header") from error


# --- one worker process -------------------------------------------------------------------------------


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        if name in _NATIVE_CRASH_SIGNALS:
            return (
                f"crashed with {name} in native code (if this repeats, the llama.cpp build may not suit "
                "this CPU or the model file is damaged: run `aqe model info`)"
            )
        if name == "SIGKILL":
            return "was killed by SIGKILL (by another process or the out-of-memory killer)"
        return f"was killed by {name}"
    return f"exited with status {returncode}"


class _Worker:
    """One worker process: its pipes, the threads reading them and the requests waiting on it."""

    def __init__(self, command: list[str], env: dict[str, str], model_path: str) -> None:
        self.model_path = model_path
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            start_new_session=True,
            close_fds=True,
        )
        self.pid = self.process.pid
        self.last_activity = time.monotonic()
        self.load_percent = 0
        self.info: dict[str, Any] | None = None
        self.fatal: tuple[str, str] | None = None
        """(kind, message) when the model could not be loaded."""
        self.settled = threading.Event()
        """Set once the worker is ready, could not load, or died."""
        self.dead = threading.Event()
        self.death: str = ""
        self.kill_reason: str | None = None
        self.hung = False
        self.failure_counted = False
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
        self._pending: dict[str, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stderr_thread = threading.Thread(
            target=self._read_stderr, args=(self.process.stderr,), name=f"aqe-llama-stderr-{self.pid}", daemon=True
        )
        self._stderr_thread.start()
        self._stdout_thread = threading.Thread(
            target=self._read_stdout, args=(self.process.stdout,), name=f"aqe-llama-events-{self.pid}", daemon=True
        )
        self._stdout_thread.start()

    @property
    def ready(self) -> bool:
        return self.info is not None and not self.dead.is_set()

    def register(self, request_id: str) -> queue.Queue[dict[str, Any]]:
        events: queue.Queue[dict[str, Any]] = queue.Queue()
        with self._lock:
            if self.dead.is_set():
                events.put({"event": "died"})
            self._pending[request_id] = events
        return events

    def unregister(self, request_id: str) -> None:
        with self._lock:
            self._pending.pop(request_id, None)

    def send(self, message: dict[str, Any]) -> None:
        """Write one request; a worker that died meanwhile is reported through its events, not here."""
        stdin = self.process.stdin
        assert stdin is not None
        with self._write_lock:
            if message.get("op") != "cancel":
                self.last_activity = time.monotonic()
            try:
                stdin.write(json.dumps(message, separators=(",", ":")) + "\n")
                stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                pass

    def kill(self, reason: str, hung: bool = False) -> None:
        if self.kill_reason is None:
            self.kill_reason = reason
            self.hung = hung
        if self.process.poll() is None:  # once reaped, its process group id may belong to someone else
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)

    def shutdown(self, grace_s: float = _SHUTDOWN_GRACE_S) -> None:
        self.kill_reason = self.kill_reason or "the provider was closed"
        self.send({"op": "shutdown"})
        with contextlib.suppress(OSError, ValueError):
            assert self.process.stdin is not None
            self.process.stdin.close()
        try:
            self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.kill(self.kill_reason)
            self.process.wait()
        self._stdout_thread.join(timeout=grace_s)

    def _read_stderr(self, stream: IO[str]) -> None:
        with contextlib.suppress(ValueError, OSError):
            for line in stream:
                if line.strip():
                    self.stderr_tail.append(line.rstrip())

    def _read_stdout(self, stream: IO[str]) -> None:
        with contextlib.suppress(ValueError, OSError):
            for line in stream:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                self.last_activity = time.monotonic()
                self._dispatch(event)
        returncode = self.process.wait()
        self._stderr_thread.join(timeout=1.0)
        with self._lock:
            self.death = self._death_message(returncode, during_request=bool(self._pending))
            self.dead.set()
            pending = list(self._pending.values())
        for events in pending:
            events.put({"event": "died"})
        self.settled.set()

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "loading":
            self.load_percent = int(event.get("percent", 0))
        elif kind == "ready":
            self.info = event.get("info") or {}
            self.settled.set()
        elif kind == "fatal":
            self.fatal = (str(event.get("kind", "model_file")), str(event.get("error", "the model did not load")))
        elif "id" in event:
            with self._lock:
                events = self._pending.get(str(event["id"]))
            if events is not None:
                events.put(event)

    def _death_message(self, returncode: int, during_request: bool) -> str:
        if self.fatal is not None:
            return self.fatal[1]
        if self.kill_reason is not None:
            return self.kill_reason
        if self.info is None:
            phase = f"while loading {self.model_path}"
        else:
            phase = "during a request" if during_request else "while idle"
        message = f"the local model worker (pid {self.pid}) {_describe_exit(returncode)} {phase}"
        if returncode == EXIT_LOAD_FAILED or returncode > 0:
            last = next((line for line in reversed(self.stderr_tail) if line.strip()), "")
            if last:
                message += f": {last}"
        return message


def _kill_at_exit(worker_ref: weakref.ref[_Worker]) -> None:
    worker = worker_ref()
    if worker is not None and worker.process.poll() is None:
        worker.kill("the language server is exiting")


# --- the provider ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ModelLocation:
    path: Path
    sha256: str | None
    size: int


class LlamaCppProvider:
    """The local model through llama-cpp-python, in a worker process restarted on demand.

    Blocking and thread-safe: up to `slots` requests run at once (decoded together in one batch by
    the worker); more wait for a slot. The queue (aqe.llm.queue) calls it from worker threads.
    """

    is_local = True

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        threads: int = 0,
        context_size: int = 4096,
        chat: bool | None = None,
        name: str = "llama.cpp",
        slots: int = 1,
        hang_timeout_s: float = 30.0,
        cache_dir: Path | None = None,
    ) -> None:
        if context_size < 64:
            raise ValueError("context_size must be at least 64 tokens")
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self.name = name
        self.threads = threads if threads > 0 else physical_cores()
        self.context_size = context_size
        self.slots = slots
        self.hang_timeout_s = hang_timeout_s
        self._configured_path = Path(model_path).expanduser() if model_path is not None else None
        self._cache_dir = cache_dir
        self._location: _ModelLocation | None = None
        self.model = self._configured_path.stem if self._configured_path else "gemma-3-270m-q4_k_m"
        self._chat = chat
        self._lock = threading.Lock()
        self._slot_semaphore = threading.BoundedSemaphore(slots)
        self._worker: _Worker | None = None
        self._closed = False
        self._failures = 0
        self._retry_at = 0.0
        self._last_failure = ""
        self._load_error: tuple[tuple[int, int], str] | None = None
        self.restarts = 0
        """Workers started after the first: how often a crash, hang or load failure cost a restart."""

    # --- what it is ----------------------------------------------------------------------------------

    @property
    def chat(self) -> bool:
        """Whether prompts go through the model's chat template (a GGUF with one is an instruct model)."""
        if self._chat is None:
            if self._configured_path is None:
                self._chat = False  # the embedded Gemma 3 270M is a base model
            else:
                try:
                    found = read_gguf_metadata(self._configured_path, frozenset({"tokenizer.chat_template"}))
                except (OSError, ValueError):
                    found = {}
                self._chat = bool(found.get("tokenizer.chat_template"))
        return self._chat

    @property
    def max_concurrency(self) -> int:
        return self.slots

    @property
    def worker_pid(self) -> int | None:
        worker = self._worker
        return worker.pid if worker is not None and not worker.dead.is_set() else None

    def info(self) -> ProviderInfo:
        details = {
            "threads": str(self.threads),
            "context_size": str(self.context_size),
            "slots": str(self.slots),
            "chat": str(self.chat).lower(),
        }
        try:
            location = self._resolve_model()
        except ProviderUnavailable as error:
            details["error"] = str(error)
        else:
            details["path"] = str(location.path)
            details["size"] = str(location.size)
            if location.sha256:
                details["sha256"] = location.sha256
        worker = self._worker
        if worker is not None and worker.ready and worker.info:
            for key in ("system_info", "llama_cpp_python", "load_seconds", "warm_up_seconds", "pid", "model_name"):
                if key in worker.info:
                    details[key] = str(worker.info[key])
        if self._last_failure:
            details["last_error"] = self._last_failure
        return ProviderInfo(self.name, self.model, self.is_local, self.chat, details)

    # --- lifecycle -----------------------------------------------------------------------------------

    def start(self, progress: LoadProgress | None = None, cancel: CancelToken | None = None) -> None:
        """Start the worker and wait until the model is loaded and warmed up (the warm pool calls it)."""
        self._ready_worker(cancel, None, progress)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.shutdown()

    def _resolve_model(self) -> _ModelLocation:
        """The model file: the user's as it is now, or the default, assembled and verified once."""
        if self._configured_path is not None:
            try:
                size = self._configured_path.stat().st_size
            except OSError:
                size = 0
            return _ModelLocation(self._configured_path, None, size)
        if self._location is None:
            from aqe.llm.default_model import ModelUnavailableError, default_model

            try:
                model = default_model(self._cache_dir)
            except ModelUnavailableError as error:
                raise ProviderUnavailable(str(error)) from error
            self._location = _ModelLocation(model.path, model.sha256, model.size)
        return self._location

    def _spawn(self) -> _Worker:
        location = self._resolve_model()
        config = {
            "model_path": str(location.path),
            "threads": self.threads,
            "context_size": self.context_size,
            "slots": self.slots,
        }
        package_root = str(Path(__file__).resolve().parents[2])
        # The worker needs no credentials: keep API keys and tokens out of its environment.
        env = {key: value for key, value in os.environ.items() if not _SECRET_VARIABLE.search(key)}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
        command = [sys.executable, "-m", "aqe.llm.llama_worker", json.dumps(config)]
        worker = _Worker(command, env, str(location.path))
        weakref.finalize(worker, _kill_at_exit, weakref.ref(worker))
        return worker

    def _file_identity(self) -> tuple[int, int]:
        path = self._resolve_model().path
        try:
            stat = path.stat()
        except OSError:
            return (-1, -1)
        return (stat.st_size, stat.st_mtime_ns)

    def _current_worker(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise ProviderUnavailable("the local model provider is closed")
            worker = self._worker
            if worker is not None and not worker.dead.is_set():
                return worker
            if worker is not None:
                self._count_failure(worker)
            if self._load_error is not None:
                identity, message = self._load_error
                if identity == self._file_identity():
                    raise ProviderUnavailable(message)
                self._load_error = None
            wait = self._retry_at - time.monotonic()
            if wait > 0:
                raise ProviderUnavailable(
                    f"{self._last_failure} (the local model restarts in {wait:.1f} s after "
                    f"{self._failures} failures in a row)"
                )
            if worker is not None:
                self.restarts += 1
            self._worker = self._spawn()
            return self._worker

    def _count_failure(self, worker: _Worker) -> None:
        """Called with the lock held, once per dead worker; sets the delay before the next attempt."""
        if worker.failure_counted:
            return
        worker.failure_counted = True
        if worker.fatal is not None and worker.fatal[0] == "model_file":
            self._load_error = (self._file_identity(), worker.fatal[1])
        if worker.kill_reason == "the provider was closed":
            return
        self._failures += 1
        self._last_failure = worker.death or "the local model worker stopped"
        self._retry_at = time.monotonic() + min(_MAX_BACKOFF_S, 0.5 * (2 ** (self._failures - 1)) - 0.5)

    def _note_success(self) -> None:
        self._failures = 0
        self._retry_at = 0.0

    def _ready_worker(
        self, cancel: CancelToken | None, deadline: float | None, progress: LoadProgress | None = None
    ) -> _Worker:
        worker = self._current_worker()
        reported = -1
        while not worker.settled.wait(_POLL_S):
            if progress is not None and worker.load_percent != reported:
                reported = worker.load_percent
                progress(reported)
            self._check_waiting(worker, cancel, deadline)
        if worker.ready:
            if progress is not None and reported != 100:
                progress(100)
            return worker
        worker.dead.wait(5.0)
        with self._lock:
            self._count_failure(worker)
        raise ProviderUnavailable(worker.death or f"the local model worker could not load {worker.model_path}")

    def _check_waiting(self, worker: _Worker, cancel: CancelToken | None, deadline: float | None) -> None:
        """Raise if the caller cancelled or ran out of time; kill the worker if it stopped progressing."""
        if cancel is not None and cancel.cancelled:
            raise RequestCancelled(cancel.reason or "cancelled")
        if deadline is not None and time.monotonic() > deadline:
            raise ProviderTimeout("the local model did not answer within the request's time limit")
        if time.monotonic() - worker.last_activity > self.hang_timeout_s and not worker.dead.is_set():
            worker.kill(
                f"the local model made no progress for {self.hang_timeout_s:g} s; its worker (pid {worker.pid}) "
                "was stopped and restarts on the next request",
                hung=True,
            )

    def _acquire_slot(self, cancel: CancelToken | None, deadline: float | None) -> None:
        while not self._slot_semaphore.acquire(timeout=_POLL_S):
            if cancel is not None and cancel.cancelled:
                raise RequestCancelled(cancel.reason or "cancelled")
            if deadline is not None and time.monotonic() > deadline:
                raise ProviderTimeout("no local model slot became free within the request's time limit")

    # --- requests ------------------------------------------------------------------------------------

    def complete(
        self, prompt: Prompt, options: CompletionOptions = _DEFAULT_OPTIONS, cancel: CancelToken | None = None
    ) -> Completion:
        with contextlib.closing(self._generate(prompt, options, cancel, stream=False)) as chunks:
            for chunk in chunks:
                if chunk.completion is not None:
                    return chunk.completion
        raise ProviderError("the local model ended without an answer")

    def stream(
        self, prompt: Prompt, options: CompletionOptions = _DEFAULT_OPTIONS, cancel: CancelToken | None = None
    ) -> Iterator[StreamChunk]:
        return self._generate(prompt, options, cancel, stream=True)

    def _generate(
        self, prompt: Prompt, options: CompletionOptions, cancel: CancelToken | None, stream: bool
    ) -> Iterator[StreamChunk]:
        started = time.perf_counter()
        request_id = new_request_id()
        deadline = time.monotonic() + options.timeout_s if options.timeout_s else None
        self._acquire_slot(cancel, deadline)
        try:
            worker = self._ready_worker(cancel, deadline)
            message: dict[str, Any] = {
                "op": "complete",
                "id": request_id,
                "prompt": prompt.text,
                "messages": [{"role": m.role, "content": m.content} for m in prompt.as_chat()] if self.chat else None,
                "options": {
                    "max_tokens": options.max_tokens,
                    "stop": list(options.stop),
                    "temperature": options.temperature,
                    "seed": options.seed,
                    "grammar": options.grammar,
                    "json_schema": options.json_schema,
                },
                "stream": stream,
            }
            events = worker.register(request_id)
            answered = False
            try:
                worker.send(message)
                while True:
                    event = self._next_event(worker, events, cancel, deadline)
                    kind = event["event"]
                    if kind == "text":
                        yield StreamChunk(event["text"])
                    elif kind == "done":
                        answered = True
                        self._note_success()
                        completion = Completion(
                            text=event["text"],
                            confidence=min(1.0, max(float(event["confidence"]), 1e-9)),
                            model=self.model,
                            provider=self.name,
                            latency_s=time.perf_counter() - started,
                            prompt_tokens=int(event["prompt_tokens"]),
                            completion_tokens=int(event["completion_tokens"]),
                            request_id=request_id,
                            finish_reason=FinishReason(event["finish_reason"]),
                        )
                        yield StreamChunk("", completion)
                        return
                    elif kind == "cancelled":
                        answered = True
                        raise RequestCancelled("the local model worker cancelled the request")
                    elif kind == "error":
                        answered = True
                        raise ProviderError(f"the local model refused the request: {event.get('error')}")
                    elif kind == "died":
                        answered = True
                        with self._lock:
                            self._count_failure(worker)
                        if worker.hung:
                            raise ProviderTimeout(worker.death)
                        raise ProviderUnavailable(worker.death)
            finally:
                worker.unregister(request_id)
                if not answered:
                    worker.send({"op": "cancel", "id": request_id})
        finally:
            self._slot_semaphore.release()

    def _next_event(
        self,
        worker: _Worker,
        events: queue.Queue[dict[str, Any]],
        cancel: CancelToken | None,
        deadline: float | None,
    ) -> dict[str, Any]:
        while True:
            self._check_waiting(worker, cancel, deadline)  # before every event: a stream never goes quiet
            try:
                return events.get(timeout=_POLL_S)
            except queue.Empty:
                continue

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """L2-normalised, mean-pooled embeddings from the same model (a second context in the worker,
        created on first use)."""
        if not texts:
            return []
        request_id = new_request_id()
        self._acquire_slot(None, None)
        try:
            worker = self._ready_worker(None, None)
            events = worker.register(request_id)
            try:
                worker.send({"op": "embed", "id": request_id, "texts": list(texts)})
                event = self._next_event(worker, events, None, None)
            finally:
                worker.unregister(request_id)
        finally:
            self._slot_semaphore.release()
        if event["event"] == "embeddings":
            return [[float(x) for x in vector] for vector in event["vectors"]]
        if event["event"] == "died":
            with self._lock:
                self._count_failure(worker)
            raise ProviderUnavailable(worker.death)
        raise ProviderError(f"the local model could not embed the texts: {event.get('error')}")

    def __repr__(self) -> str:
        return f"LlamaCppProvider(model={self.model!r}, threads={self.threads}, slots={self.slots})"
