"""An LSP protocol and transports for pygls 2.x that answer bad input instead of hanging or crashing.

pygls 2.1.1 (measured): a request whose params do not deserialize gets no response at all, only a
window/showMessage popup (the client waits forever); every bad message pops another one; one wrong
`Content-Length` puts its stdio reader out of step for good and `Content-Length: 1TB` kills it.

`AqeProtocol` answers every request it can identify: -32600 for malformed requests and batches,
-32601 for unknown methods, -32602 for params that do not deserialize, -32603 when a handler raises
or returns something that cannot be serialised, -32002 before `initialize`, and -32600 after
`shutdown`. Problems with the input are logged (stdlib `logging`, rate limited), never shown as
popups. `serve_stdio` and `serve_tcp` replace pygls' readers with `FrameDecoder`, which
resynchronises after bad framing and never buffers a frame above `max_frame_bytes`.

pygls' own `start_io`/`start_tcp`/`start_ws` still work with `AqeProtocol` (it accepts their raw
JSON in `handle_message`), but keep their framing faults; use the functions here instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

import cattrs
from lsprotocol import types
from pygls.exceptions import JsonRpcMethodNotFound
from pygls.protocol import JsonRPCNotification, JsonRPCRequestMessage, JsonRPCResponseMessage
from pygls.protocol.language_server import LanguageServerProtocol, lsp_method

from aqe.lsp.transport.framing import (
    DEFAULT_MAX_FRAME_BYTES,
    FrameDecoder,
    FrameError,
    FrameErrorKind,
    FrameEvent,
    InvalidMessage,
    MessageId,
    classify_message,
)

if TYPE_CHECKING:
    from concurrent.futures import Future

    from pygls.lsp.server import LanguageServer

log = logging.getLogger(__name__)

_READ_CHUNK_BYTES = 64 * 1024
# Chunks read ahead of the decoder: bounds memory when the client writes faster than we decode.
_READ_AHEAD_CHUNKS = 4
_ENVELOPE_KEYS = ("jsonrpc", "id", "method", "params", "result", "error")
_LOGGED_PROBLEMS_AT_WARNING = 20
_MAX_ERROR_DETAILS = 5


class AqeProtocol(LanguageServerProtocol):
    """pygls' LSP protocol, with an answer (or a log line) for every kind of bad message."""

    def __init__(self, server: LanguageServer, converter: cattrs.Converter) -> None:
        super().__init__(server, converter)
        self._initialize_received = False
        self._input_problems = 0
        self._transport_lost = False
        self._on_transport_lost: Callable[[], None] | None = None
        self._pending_writes: set[asyncio.Future[Any]] = set()

    # --- entry points ------------------------------------------------------------------------------

    def receive(self, event: FrameEvent) -> None:
        """Handle one event from `FrameDecoder`. Never raises, except SystemExit from `exit`."""
        try:
            if isinstance(event, FrameError):
                self._note_frame_error(event)
            elif isinstance(event, InvalidMessage):
                self._reject_invalid(event)
            else:
                self.handle_json(event)
        except Exception:
            log.exception("failed to handle an incoming message; still serving")

    def structure_message(self, data: dict[str, Any]) -> Any:
        """Leave structuring to `handle_message`.

        pygls' readers call this as a `json.loads` object hook, on nested objects too (params with a
        "jsonrpc" key were structured as messages) and raise on failure, which loses the request id.
        """
        return data

    def handle_message(self, message: Any) -> None:
        """Accepts raw JSON (from pygls' readers) as well as messages pygls already structured."""
        if isinstance(message, (dict, list, str, int, float, bool)) or message is None:
            self.receive(classify_message(message))
            return
        super().handle_message(message)

    def handle_json(self, data: dict[str, Any]) -> None:
        """Dispatch one JSON-RPC object whose envelope `classify_message` accepted."""
        method = data.get("method")
        if method is not None and "id" in data:
            refusal = self._refuse_request(method)
            if refusal is not None:
                self._send_error(data["id"], *refusal)
                return
        elif method is not None and not self._accept_notification(method):
            return
        try:
            message = self._structure(data)
        except Exception as exc:
            self._reject_unstructurable(data, exc)
            return
        if "id" in data and method is not None and not hasattr(message, "id"):
            self._send_error(
                data["id"], types.ErrorCodes.InvalidRequest, f"{method!r} is a notification, not a request"
            )
            return
        if method == types.INITIALIZE:
            self._initialize_received = True
        super().handle_message(message)

    # --- pygls faults around pending requests ------------------------------------------------------

    @lsp_method(types.SHUTDOWN)
    def lsp_shutdown(self, *args: Any) -> Generator[Any, Any, None]:
        """pygls' shutdown, over a snapshot of the pending requests.

        pygls iterates `_request_futures` while cancelling them, and a cancelled handler's done
        callback pops its own entry: "dictionary changed size during iteration" failed `shutdown`
        whenever a request was still running (seen with a pull-diagnostics request in flight).
        """
        if (user_handler := self.fm.features.get(types.SHUTDOWN)) is not None:
            yield user_handler, args, None
        current_id = self.msg_id
        for msg_id, future in list(self._request_futures.items()):
            if msg_id != current_id and not future.done():
                future.cancel()
        self._shutdown = True
        return None

    def _handle_response(self, msg_id: MessageId, result: Any | None = None, error: Any | None = None) -> None:
        """A late answer to a request of ours that was cancelled meanwhile (e.g. at shutdown) is
        dropped; pygls raised InvalidStateError on it."""
        future = self._request_futures.get(msg_id)
        if future is not None and future.done():
            self._request_futures.pop(msg_id, None)
            log.debug("dropped the answer to request %r: it was cancelled", msg_id)
            return
        super()._handle_response(msg_id, result, error)

    # --- gates -------------------------------------------------------------------------------------

    def _refuse_request(self, method: str) -> tuple[int, str] | None:
        if method != types.INITIALIZE and not self._initialize_received:
            return types.ErrorCodes.ServerNotInitialized, f"{method!r} before 'initialize'"
        if self._shutdown:
            return types.ErrorCodes.InvalidRequest, f"{method!r} after 'shutdown'"
        try:
            self._get_handler(method)
        except JsonRpcMethodNotFound:
            log.info("request for unknown method %r", method)
            return types.ErrorCodes.MethodNotFound, f"Method Not Found: {method}"
        return None

    def _accept_notification(self, method: str) -> bool:
        if method == types.EXIT:
            return True
        if not self._initialize_received or self._shutdown:
            when = "after 'shutdown'" if self._shutdown else "before 'initialize'"
            self._note_problem("ignored notification %r %s", method, when)
            return False
        return True

    # --- structuring -------------------------------------------------------------------------------

    def _structure(self, data: dict[str, Any]) -> Any:
        envelope = {key: data[key] for key in _ENVELOPE_KEYS if key in data}
        if "id" in envelope and "method" not in envelope:
            if "error" in envelope:
                return self._converter.structure(envelope, types.ResponseErrorMessage)
            result_type = self._result_types.pop(envelope["id"], None) or JsonRPCResponseMessage
            return self._converter.structure(envelope, result_type)
        method = envelope["method"]
        message_type = self.get_message_type(method)
        if message_type is None:
            message_type = JsonRPCRequestMessage if "id" in envelope else JsonRPCNotification
            envelope.setdefault("params", None)
        return self._converter.structure(envelope, message_type)

    def _reject_unstructurable(self, data: dict[str, Any], exc: Exception) -> None:
        detail = _describe_structure_error(exc)
        method = data.get("method")
        if method is None:
            self._fail_pending_request(data.get("id"), detail)
            return
        if "id" in data:
            self._note_problem("invalid params for %r (id %r): %s", method, data["id"], detail)
            self._send_error(data["id"], types.ErrorCodes.InvalidParams, f"Invalid params for {method!r}: {detail}")
        else:
            self._note_problem("dropped notification %r with invalid params: %s", method, detail)

    def _fail_pending_request(self, msg_id: MessageId | None, detail: str) -> None:
        """A response we cannot read still settles the request, so no caller waits forever."""
        self._note_problem("unreadable response to request %r: %s", msg_id, detail)
        future = self._request_futures.pop(msg_id, None) if msg_id is not None else None
        if future is not None and not future.done():
            future.set_exception(ValueError(f"unreadable response from the client: {detail}"))

    def _reject_invalid(self, event: InvalidMessage) -> None:
        self._note_problem("invalid JSON-RPC message: %s", event.reason)
        message = f"Invalid Request: {event.reason}"
        for msg_id in event.request_ids:
            self._send_error(msg_id, types.ErrorCodes.InvalidRequest, message)
        if event.is_batch and not event.request_ids:
            self._send_error(None, types.ErrorCodes.InvalidRequest, message)

    # --- results and errors ------------------------------------------------------------------------

    def _check_handler_result(self, future: Future[Any]) -> None:
        """A notification handler failed: log it; pygls would pop a window/showMessage."""
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            log.error("notification handler failed: %s", exc, exc_info=exc)

    def _send_error(self, msg_id: MessageId | None, code: int, message: str) -> None:
        self._send_response(msg_id, error=types.ResponseError(code=int(code), message=message))  # type: ignore[arg-type]

    def _send_data(self, data: Any) -> None:
        """pygls' `_send_data` without two faults: a result that cannot be serialised left the client
        waiting (and popped a message) instead of getting an error response, and every body was
        logged at INFO, document text included. A closed transport stops further sends quietly."""
        if not data or self._transport_lost:
            return
        if self.writer is None:
            log.error("no transport to send %s on", type(data).__name__)
            return
        try:
            body = json.dumps(data, default=self._serialize_message)
        except Exception as exc:
            body = self._serialization_fallback(data, exc)
            if body is None:
                return
        payload = body.encode("utf-8")
        if self._include_headers:
            header = f"Content-Length: {len(payload)}\r\nContent-Type: {self.CONTENT_TYPE}; charset=utf-8\r\n\r\n"
            payload = header.encode("ascii") + payload
        log.debug("sending %s (%d bytes)", type(data).__name__, len(payload))
        try:
            pending = self.writer.write(payload)
            if inspect.isawaitable(pending):
                task = asyncio.ensure_future(pending)
                self._pending_writes.add(task)
                task.add_done_callback(self._pending_writes.discard)
        except (OSError, ValueError) as exc:
            self._lose_transport(exc)

    def _serialization_fallback(self, data: Any, exc: Exception) -> str | None:
        msg_id = getattr(data, "id", None)
        if msg_id is None or not hasattr(data, "result"):
            log.error("could not serialise an outgoing %s: %s", type(data).__name__, exc)
            return None
        log.error("could not serialise the result for request %r: %s", msg_id, exc)
        error = types.ResponseErrorMessage(
            id=msg_id,
            error=types.ResponseError(
                code=types.ErrorCodes.InternalError, message=f"the result could not be serialised: {exc}"
            ),
        )
        return json.dumps(error, default=self._serialize_message)

    def _lose_transport(self, exc: BaseException) -> None:
        if self._transport_lost:
            return
        # Set before logging: a log handler that forwards to the client would write again.
        self._transport_lost = True
        log.warning("the connection to the client is gone (%s); no more messages will be sent", exc)
        if self._on_transport_lost is not None:
            self._on_transport_lost()

    # --- logging -----------------------------------------------------------------------------------

    def oversized_message_dropped(self, error: FrameError) -> None:
        """Hook: a message over the frame cap was skipped (`error.method`/`error.uri` say what it
        was, when its first bytes told). Override to tell the user, e.g. that a file was too large to
        analyse; a request among them has already been answered with -32600."""

    def _note_frame_error(self, error: FrameError) -> None:
        if error.kind is FrameErrorKind.LENGTH_MISMATCH:
            self._note_problem("repaired a frame: %s", error.detail)
        elif error.kind is FrameErrorKind.FRAME_TOO_LARGE:
            log.warning(
                "dropped an oversized message (%s, %s): %s", error.method or "unknown method", error.uri, error.detail
            )
            if error.request_id is not None:
                self._send_error(
                    error.request_id, types.ErrorCodes.InvalidRequest, f"message too large: {error.detail}"
                )
            self.oversized_message_dropped(error)
        else:
            self._note_problem(
                "dropped %d bytes of input (%s): %s", error.dropped_bytes, error.kind.value, error.detail
            )

    def _note_problem(self, message: str, *args: Any) -> None:
        """Warn about the first problems, then only at each power of ten: a client stuck in a loop
        must not flood the log (forwarded to the editor's output panel)."""
        self._input_problems += 1
        count = self._input_problems
        if count <= _LOGGED_PROBLEMS_AT_WARNING:
            log.warning(message, *args)
        elif _is_power_of_ten(count):
            log.warning("%d bad messages so far (the rest are logged at debug level); latest: " + message, count, *args)
        else:
            log.debug(message, *args)


def _is_power_of_ten(number: int) -> bool:
    while number >= 10 and number % 10 == 0:
        number //= 10
    return number == 1


def _describe_structure_error(exc: Exception) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        try:
            details = cattrs.transform_error(exc)
        except Exception:
            details = [str(exc)]
        shown = "; ".join(details[:_MAX_ERROR_DETAILS])
        more = len(details) - _MAX_ERROR_DETAILS
        return f"{shown}; and {more} more" if more > 0 else shown
    return f"{type(exc).__name__}: {exc}"


# --- transports -------------------------------------------------------------------------------------


def serve_stdio(
    server: LanguageServer,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
    *,
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
) -> None:
    """Serve LSP over stdin/stdout until EOF (returns) or `exit` (raises SystemExit with the LSP exit
    code: 0 after `shutdown`, 1 otherwise).

    With the default streams the process' file descriptors 0 and 1 are taken over for the duration:
    fd 1 and `sys.stdout` are pointed at stderr and fd 0 at the null device, so a stray `print`, a
    native library or a child process can neither corrupt nor steal protocol bytes.

    Needs a `LanguageServer` built with `protocol_cls=AqeProtocol` (or a subclass). Running
    `@server.thread()` handlers are not waited for (a hung one would hang the editor's shutdown);
    the interpreter still joins them at exit.
    """
    protocol = _aqe_protocol_of(server)
    with contextlib.ExitStack() as stack:
        source = stdin if stdin is not None else stack.enter_context(_claim_stdin())
        sink = stdout if stdout is not None else stack.enter_context(_claim_stdout())
        protocol.set_writer(_LockedStreamWriter(sink))
        _run(server, lambda: _pump(server, protocol, _ThreadedChunkReader(source), max_frame_bytes))


def serve_tcp(server: LanguageServer, host: str, port: int, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
    """Serve one LSP client over TCP until it disconnects (returns) or sends `exit` (SystemExit).

    pygls' `start_tcp` accepts `AqeProtocol` too, but keeps pygls' framing (no resynchronisation, no
    frame cap) and lets `@server.thread()` handlers write to the asyncio transport from their own
    thread. Like `start_tcp`, this serves the first client only; others are refused meanwhile.
    """
    protocol = _aqe_protocol_of(server)

    async def main() -> None:
        finished = asyncio.Event()
        busy = False
        exit_code: list[Any] = []

        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal busy
            if busy:
                writer.close()
                return
            busy = True
            protocol.set_writer(_LoopStreamWriter(writer, asyncio.get_running_loop()))
            try:
                await _pump(server, protocol, _StreamChunkReader(reader), max_frame_bytes)
            except SystemExit as exit_request:
                # Re-raised from main(): asyncio would log it as an error in a connection callback.
                exit_code.append(exit_request.code)
            finally:
                writer.close()
                finished.set()

        listener = await asyncio.start_server(on_connection, host, port)
        server._server = listener  # pygls' shutdown() closes it
        log.info("serving LSP on %s", ", ".join(str(sock.getsockname()) for sock in listener.sockets))
        async with listener:
            await finished.wait()
        if exit_code:
            raise SystemExit(exit_code[0])

    _run(server, main)


def _aqe_protocol_of(server: LanguageServer) -> AqeProtocol:
    protocol = server.protocol
    if not isinstance(protocol, AqeProtocol):
        raise TypeError(f"the server must be built with protocol_cls=AqeProtocol, not {type(protocol).__name__}")
    return protocol


def _run(server: LanguageServer, main: Callable[[], Awaitable[None]]) -> None:
    server._stop_event = threading.Event()  # pygls' shutdown() sets it
    try:
        asyncio.run(main())  # type: ignore[arg-type]
    except KeyboardInterrupt:
        log.info("interrupted")
    finally:
        _release(server)


def _release(server: LanguageServer) -> None:
    """pygls' shutdown(), minus waiting for @thread handlers: queued ones are cancelled, running
    ones left to finish on their own."""
    pool = server._thread_pool
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)
        server._thread_pool = None
    try:
        server.shutdown()
    except Exception:
        log.exception("server shutdown failed")


class _ChunkSource(Protocol):
    def start(self) -> None:
        """Called on the event loop before the first `next`."""

    async def next(self) -> bytes:
        """The next chunk of input; b"" at the end of the stream."""
        ...


async def _pump(server: LanguageServer, protocol: AqeProtocol, source: _ChunkSource, max_frame_bytes: int) -> None:
    """Bytes in, events to the protocol, until EOF, transport loss or server.shutdown()."""
    loop = asyncio.get_running_loop()
    stop_event = server._stop_event
    lost = asyncio.Event()

    def stop() -> None:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(lost.set)

    protocol._transport_lost = False
    protocol._on_transport_lost = stop
    source.start()
    decoder = FrameDecoder(max_frame_bytes=max_frame_bytes)
    try:
        while not lost.is_set() and not (stop_event is not None and stop_event.is_set()):
            chunk = await _first_of(source.next(), lost)
            if not chunk:
                for event in decoder.finish():
                    protocol.receive(event)
                log.info("the client closed the connection")
                return
            try:
                events = decoder.feed(chunk)
            except Exception:
                log.exception("the frame decoder failed; discarding buffered input")
                decoder = FrameDecoder(max_frame_bytes=max_frame_bytes)
                continue
            for event in events:
                protocol.receive(event)
            # A steady stream of input must not starve async handlers: yield to them per chunk.
            await asyncio.sleep(0)
    finally:
        protocol._on_transport_lost = None


async def _first_of(read: Awaitable[bytes], lost: asyncio.Event) -> bytes:
    """The next chunk, or b"" as soon as the transport is known to be gone."""
    read_task = asyncio.ensure_future(read)
    if lost.is_set():
        read_task.cancel()
        return b""
    lost_task = asyncio.ensure_future(lost.wait())
    try:
        await asyncio.wait((read_task, lost_task), return_when=asyncio.FIRST_COMPLETED)
    finally:
        lost_task.cancel()
    if read_task.done():
        return read_task.result()
    read_task.cancel()
    return b""


class _ThreadedChunkReader:
    """Reads the input stream on a daemon thread, at most a few chunks ahead of the decoder.

    A daemon thread, not pygls' executor: a read blocked on an idle client must never stop the
    process from exiting, and must not occupy a worker meant for @thread handlers.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._read = _chunk_reader_of(stream)
        self._credits = threading.Semaphore(_READ_AHEAD_CHUNKS)
        self._queue: asyncio.Queue[bytes] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        threading.Thread(target=self._run, name="aqe-lsp-stdin", daemon=True).start()

    async def next(self) -> bytes:
        assert self._queue is not None
        chunk = await self._queue.get()
        self._credits.release()
        return chunk

    def _run(self) -> None:
        loop, queue = self._loop, self._queue
        assert loop is not None and queue is not None
        while True:
            self._credits.acquire()
            try:
                chunk = self._read(_READ_CHUNK_BYTES)
            except (OSError, ValueError) as exc:
                log.warning("reading from the client failed: %s", exc)
                chunk = b""
            try:
                loop.call_soon_threadsafe(queue.put_nowait, chunk or b"")
            except RuntimeError:
                return
            if not chunk:
                return


class _StreamChunkReader:
    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def start(self) -> None:
        pass

    async def next(self) -> bytes:
        try:
            return await self._reader.read(_READ_CHUNK_BYTES)
        except OSError:
            return b""


def _chunk_reader_of(stream: BinaryIO) -> Callable[[int], bytes]:
    """A read that returns as soon as some bytes are available (BufferedReader.read(n) waits for n)."""
    read1 = getattr(stream, "read1", None)
    if read1 is not None:
        return read1  # type: ignore[no-any-return]
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return stream.read
    return lambda size: os.read(fd, size)


class _LockedStreamWriter:
    """pygls' writer interface over a binary stream; whole frames only, from any thread."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self._lock:
            view = memoryview(data)
            while view:
                written = self._stream.write(view)
                if not written:
                    raise BrokenPipeError("the output stream accepted no bytes")
                view = view[written:]
            self._stream.flush()

    def close(self) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):
            self._stream.close()


class _LoopStreamWriter:
    """An asyncio StreamWriter that @thread handlers can write to: writes hop to the loop thread."""

    def __init__(self, writer: asyncio.StreamWriter, loop: asyncio.AbstractEventLoop) -> None:
        self._writer = writer
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def write(self, data: bytes) -> None:
        if self._writer.transport.is_closing():
            raise ConnectionResetError("the client connection is closed")
        if threading.get_ident() == self._loop_thread:
            self._writer.write(data)
        else:
            try:
                self._loop.call_soon_threadsafe(self._writer.write, data)
            except RuntimeError as exc:
                raise ConnectionResetError("the event loop has stopped") from exc

    def close(self) -> None:
        if threading.get_ident() == self._loop_thread:
            self._writer.close()
        else:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._writer.close)


@contextlib.contextmanager
def _claim_stdout() -> Iterator[BinaryIO]:
    """Keep fd 1 for protocol frames only: hand out a duplicate, point fd 1 and sys.stdout at stderr."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    try:
        protocol_fd, restore_fd = _duplicate(1)
    except OSError:
        log.warning("could not take over stdout; stray writes to it would corrupt the protocol")
        yield sys.stdout.buffer
        return
    try:
        os.dup2(2, 1)
    except OSError:
        log.warning("could not point stdout at stderr; stray writes to it would corrupt the protocol")

    previous_stdout = sys.stdout
    sys.stdout = sys.stderr
    stream = os.fdopen(protocol_fd, "wb", buffering=0)
    try:
        yield stream  # type: ignore[misc]
    finally:
        if sys.stdout is sys.stderr:
            sys.stdout = previous_stdout
        os.dup2(restore_fd, 1)
        os.close(restore_fd)
        with contextlib.suppress(OSError, ValueError):
            stream.close()


@contextlib.contextmanager
def _claim_stdin() -> Iterator[BinaryIO]:
    """Keep fd 0 for protocol frames only: hand out a duplicate, point fd 0 at the null device.

    The duplicate is left open when the serve loop ends: the reader thread may still be blocked in a
    read on it, and closing a descriptor under a blocked read is unsafe.
    """
    try:
        protocol_fd, restore_fd = _duplicate(0)
    except OSError:
        log.warning("could not take over stdin; a child process reading it would steal protocol bytes")
        yield sys.stdin.buffer
        return
    try:
        null_fd = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null_fd, 0)
        os.close(null_fd)
    except OSError:
        log.warning("could not point stdin at the null device; a child process could steal protocol bytes")
    try:
        yield os.fdopen(protocol_fd, "rb", buffering=0, closefd=False)  # type: ignore[misc]
    finally:
        os.dup2(restore_fd, 0)
        os.close(restore_fd)


def _duplicate(fd: int) -> tuple[int, int]:
    """Two duplicates of `fd`: one to serve the protocol on, one to restore `fd` from afterwards."""
    first = os.dup(fd)
    try:
        return first, os.dup(fd)
    except OSError:
        os.close(first)
        raise
