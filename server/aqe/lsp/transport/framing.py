"""Incremental decoder for the LSP base protocol (`Content-Length` framed JSON-RPC) that survives bad input.

pygls trusts every `Content-Length`: one wrong length throws it out of step for good, and a claim of
1 TB raises MemoryError. This decoder treats the length as a claim to check. It rests on one fact:
a header line such as `Content-Length: 12\\r\\n` can never occur inside valid JSON, because JSON
strings cannot hold a raw CR or LF and the header words cannot appear outside a string. So a header
line found inside a claimed body proves the claim wrong, and the stream can always be re-entered at
the next header line. Pure: no I/O, no threads, no logging; the caller decides what to report.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_HEADER_BYTES = 8 * 1024
DEFAULT_RECOVERY_WINDOW_BYTES = 64 * 1024

# A recovery parse re-reads the whole buffered body; capping the attempts per frame keeps a hostile
# or unlucky byte pattern from turning each chunk into a full JSON parse.
_MAX_RECOVERY_PARSES = 4
# Kept from the start of a skipped oversized body, to tell the user which request or file it was.
_SNIFF_BYTES = 4096

MessageId = int | str


class FrameErrorKind(str, enum.Enum):
    GARBAGE = "garbage"
    """Bytes outside any frame, or a header block that does not parse."""
    HEADER_TOO_LARGE = "header-too-large"
    FRAME_TOO_LARGE = "frame-too-large"
    """The claimed length exceeded the cap; the body was skipped without being buffered."""
    LENGTH_MISMATCH = "length-mismatch"
    """`Content-Length` was wrong or missing, but the body was valid JSON and was delivered."""
    NOT_UTF8 = "not-utf8"
    NOT_JSON = "not-json"
    TRUNCATED = "truncated"
    """The stream ended inside a frame."""


@dataclass(frozen=True)
class FrameError:
    """Something in the byte stream was dropped (or repaired): what, how many bytes, and why.

    For FRAME_TOO_LARGE, what could be read from the start of the skipped body: the id of a request
    to answer (only when it is a top-level member), its method, and the first document URI in it.
    """

    kind: FrameErrorKind
    dropped_bytes: int
    detail: str
    request_id: MessageId | None = None
    method: str | None = None
    uri: str | None = None


@dataclass(frozen=True)
class InvalidMessage:
    """Valid JSON that is not a JSON-RPC message LSP can handle (a batch, a number, no method...).

    `request_ids` holds the ids a client may be waiting on, so the protocol can answer each with
    -32600 instead of leaving the client hanging; it is empty when there is no usable id.
    """

    reason: str
    request_ids: tuple[MessageId, ...] = ()
    is_batch: bool = False


FrameEvent = dict[str, Any] | InvalidMessage | FrameError
"""A decoded JSON-RPC message (a dict with a valid envelope), an `InvalidMessage`, or a `FrameError`."""


_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]"
_HEADER_LINE = re.compile(rb"(" + _TOKEN + rb"{1,256}):[ \t]*([^\r\n]*?)[ \t]*")
_PLAUSIBLE_HEADER_PREFIX = re.compile(
    rb"(?:" + _TOKEN + rb"{1,256}:[^\r\n]*\r\n)*(?:" + _TOKEN + rb"{0,256}(?::[^\r\n]*\r?)?|\r)"
)
_LENGTH_VALUE = re.compile(rb"\d{1,20}")

# Content-Length is the only header that counts as a resynchronisation point: a Content-Type line
# alone could be spelled inside pretty-printed JSON, a Content-Length line cannot. Found with
# bytes.find on a lowercased copy: a case-insensitive regex search is ~40x slower on big bodies.
_LENGTH_LINE_REST = re.compile(rb"[ \t]{0,8}\d{1,20}[ \t]{0,8}\r\n")
_TYPE_LINE_BEFORE = re.compile(rb"content-type:[^\r\n]{0,256}\r\n\Z")
_MAX_TYPE_LINE_BYTES = 13 + 256 + 2
_LENGTH_WORD = b"content-length:"
_TYPE_WORD = b"content-type:"
_LENGTH_LINE_REST_PREFIX = re.compile(rb"[ \t]{0,8}\d{0,20}[ \t]{0,8}\r?")
_LETTER_C = re.compile(rb"[cC]")
_MAX_BOUNDARY_BYTES = 400
_SCAN_WINDOW_BYTES = 256 * 1024


class _State(enum.Enum):
    HEADER = enum.auto()
    BODY = enum.auto()
    SKIP = enum.auto()


class FrameDecoder:
    """Turns a byte stream into `FrameEvent`s; feed it chunks of any size, in order.

    Memory is bounded by `max_frame_bytes + recovery_window_bytes` plus one chunk, whatever the input:
    bodies claimed larger than `max_frame_bytes` are skipped as they arrive, never buffered.
    """

    def __init__(
        self,
        *,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        recovery_window_bytes: int = DEFAULT_RECOVERY_WINDOW_BYTES,
    ) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.max_header_bytes = max_header_bytes
        self.recovery_window_bytes = recovery_window_bytes
        self._buf = bytearray()
        self._events: list[FrameEvent] = []
        self._state = _State.HEADER
        self._start_frame(header_bytes=0, length=None)

    @property
    def buffered_bytes(self) -> int:
        """Bytes held back waiting for more input (what this decoder costs in memory)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[FrameEvent]:
        """Consume `data` and return every event it completes, in stream order."""
        self._buf += data
        while self._step():
            pass
        events, self._events = self._events, []
        return events

    def finish(self) -> list[FrameEvent]:
        """The stream ended: report whatever was left half-received."""
        pending = len(self._buf)
        if self._state is not _State.HEADER:
            pending += self._header_bytes + self._skipped
        if pending:
            self._error(FrameErrorKind.TRUNCATED, pending, "the stream ended inside a frame")
        self._buf.clear()
        self._state = _State.HEADER
        self._start_frame(header_bytes=0, length=None)
        events, self._events = self._events, []
        return events

    # --- state machine -----------------------------------------------------------------------------

    def _start_frame(self, *, header_bytes: int, length: int | None) -> None:
        self._header_bytes = header_bytes
        self._length = length
        self._length_failed = False
        self._first_failure: FrameErrorKind | None = None
        self._scan_from = 0
        self._skipped = 0
        self._recovery_parses = 0
        self._recovery_parsed_up_to = 0
        self._head = bytearray()

    def _step(self) -> bool:
        """Make one move; False when nothing more can happen without more input."""
        if self._state is _State.HEADER:
            return self._step_header()
        if self._state is _State.SKIP:
            return self._step_skip()
        return self._step_body()

    def _step_header(self) -> bool:
        buf = self._buf
        if not buf:
            return False
        end = buf.find(b"\r\n\r\n", 0, self.max_header_bytes + 4)
        if end < 0:
            if len(buf) > self.max_header_bytes:
                return self._resync(FrameErrorKind.HEADER_TOO_LARGE, "no header end within the size cap")
            if _PLAUSIBLE_HEADER_PREFIX.fullmatch(buf):
                return False
            return self._resync(FrameErrorKind.GARBAGE, "bytes outside any frame")
        length, problem = _parse_header_block(bytes(buf[:end]))
        if problem is not None:
            return self._resync(FrameErrorKind.GARBAGE, problem)
        glued = _glued_boundary(buf, end)
        if glued is not None:
            return self._resync(FrameErrorKind.GARBAGE, "bytes glued to the front of a header", to=glued)
        del buf[: end + 4]
        self._start_frame(header_bytes=end + 4, length=length)
        if length is not None and length > self.max_frame_bytes:
            self._state = _State.SKIP
        else:
            self._state = _State.BODY
            self._length_failed = length is None
            if length is None:
                self._first_failure = FrameErrorKind.GARBAGE
        return True

    def _resync(self, kind: FrameErrorKind, detail: str, *, to: int | None = None) -> bool:
        """Drop bytes up to the next header line (or the last place one could still begin)."""
        position = _find_boundary(self._buf, 1)[0] if to is None else to
        del self._buf[:position]
        self._error(kind, position, detail)
        return True

    def _step_skip(self) -> bool:
        buf = self._buf
        remaining = self._length - self._skipped  # type: ignore[operator]
        position, complete = _find_boundary(buf, 0, remaining)
        if complete:
            self._end_skip(position, "a new header arrived inside it")
            return True
        if len(buf) >= remaining:
            self._end_skip(remaining, "skipped to its end")
            return True
        self._keep_head(position)
        del buf[:position]
        self._skipped += position
        return False

    def _keep_head(self, count: int) -> None:
        room = _SNIFF_BYTES - len(self._head)
        if room > 0:
            self._head += self._buf[: min(count, room)]

    def _end_skip(self, consumed: int, how: str) -> None:
        self._keep_head(consumed)
        del self._buf[:consumed]
        dropped = self._header_bytes + self._skipped + consumed
        request_id, method, uri = _sniff(bytes(self._head))
        self._events.append(
            FrameError(
                FrameErrorKind.FRAME_TOO_LARGE,
                dropped,
                f"claimed {self._length} bytes, over the {self.max_frame_bytes}-byte cap; {how}",
                request_id=request_id,
                method=method,
                uri=uri,
            )
        )
        self._state = _State.HEADER
        self._start_frame(header_bytes=0, length=None)

    def _step_body(self) -> bool:
        buf = self._buf
        exact = None if self._length_failed else self._length
        position, complete = _find_boundary(buf, self._scan_from, exact)
        if complete:
            self._end_body_at_boundary(position)
            return True
        self._scan_from = position
        if exact is not None:
            if len(buf) < exact:
                return False
            event, failure = _decode_body(bytes(buf[:exact]))
            if failure is None:
                del buf[:exact]
                self._events.append(event)  # type: ignore[arg-type]
                self._state = _State.HEADER
                self._start_frame(header_bytes=0, length=None)
                return True
            self._length_failed = True
            self._first_failure = failure
            return True
        overrun = len(buf) - (self._length or 0)
        if overrun > self.recovery_window_bytes:
            self._drop_body(position, "no next header within the recovery window")
            return True
        if (
            self._recovery_parses < _MAX_RECOVERY_PARSES
            and len(buf) > self._recovery_parsed_up_to
            and buf.rstrip().endswith(b"}")
        ):
            self._recovery_parses += 1
            self._recovery_parsed_up_to = len(buf)
            event, failure = _decode_body(bytes(buf))
            if failure is None:
                consumed = len(buf)
                buf.clear()
                self._deliver_repaired(event, consumed)
                return True
        return False

    def _end_body_at_boundary(self, position: int) -> None:
        """A header line began at `position`: the body is whatever came before it."""
        event, failure = _decode_body(bytes(self._buf[:position]))
        if failure is None:
            del self._buf[:position]
            self._deliver_repaired(event, position)
            return
        self._first_failure = self._first_failure or failure
        self._drop_body(position, "the next header began after it")

    def _deliver_repaired(self, event: FrameEvent, body_bytes: int) -> None:
        claim = "missing" if self._length is None else f"{self._length}"
        self._error(
            FrameErrorKind.LENGTH_MISMATCH,
            0,
            f"Content-Length {claim}, but the JSON body was {body_bytes} bytes; delivered it",
        )
        self._events.append(event)
        self._state = _State.HEADER
        self._start_frame(header_bytes=0, length=None)

    def _drop_body(self, consumed: int, why: str) -> None:
        del self._buf[:consumed]
        kind = self._first_failure or FrameErrorKind.NOT_JSON
        claim = "no Content-Length" if self._length is None else f"Content-Length {self._length}"
        self._error(kind, self._header_bytes + consumed, f"frame with {claim} dropped: {why}")
        self._state = _State.HEADER
        self._start_frame(header_bytes=0, length=None)

    def _error(self, kind: FrameErrorKind, dropped: int, detail: str) -> None:
        self._events.append(FrameError(kind, dropped, detail))


def _parse_header_block(block: bytes) -> tuple[int | None, str | None]:
    """(content length or None if absent, problem or None)."""
    lengths: set[int] = set()
    for line in block.split(b"\r\n"):
        match = _HEADER_LINE.fullmatch(line)
        if match is None:
            return None, "malformed header line"
        if match.group(1).lower() == b"content-length":
            value = match.group(2)
            if not _LENGTH_VALUE.fullmatch(value):
                return None, "Content-Length is not a decimal number"
            lengths.add(int(value))
    if len(lengths) > 1:
        return None, "conflicting Content-Length headers"
    return (lengths.pop() if lengths else None), None


def _glued_boundary(buf: bytearray, block_end: int) -> int | None:
    """A Content-Length line starting mid-line inside a header block ("xyzContent-Length: 5").

    The bytes before it parse as an unknown header name, so the block looks valid; but a frame
    begins there, and whatever preceded it (often a broken frame's header) must be dropped.
    """
    position, complete = _find_boundary(buf, 1, block_end)
    while complete:
        if buf[position - 2 : position] != b"\r\n":
            return position
        position, complete = _find_boundary(buf, position + 1, block_end)
    return None


def _find_boundary(buf: bytearray, start: int, stop: int | None = None) -> tuple[int, bool]:
    """Where the next header line starts in `buf[start:stop]`: (position, complete).

    complete=False means the bytes from `position` to the end could still become a header line
    once more input arrives (or position == len(buf): nothing there at all). Everything before
    `position` is certainly not the start of a header line. Scans window by window so that the cost
    is proportional to the distance travelled, not to what else is buffered.
    """
    end = len(buf)
    stop = end if stop is None else min(stop, end)
    window_start = start
    while window_start < stop:
        window_stop = min(window_start + _SCAN_WINDOW_BYTES, stop)
        lowered = buf[window_start : window_stop + _MAX_BOUNDARY_BYTES].lower()
        found = lowered.find(_LENGTH_WORD)
        while 0 <= found < window_stop - window_start:
            if _LENGTH_LINE_REST.match(lowered, found + len(_LENGTH_WORD)):
                position = window_start + found
                before = buf[max(start, position - _MAX_TYPE_LINE_BYTES) : position].lower()
                type_line = _TYPE_LINE_BEFORE.search(before)
                return position - (len(before) - type_line.start() if type_line else 0), True
            found = lowered.find(_LENGTH_WORD, found + 1)
        window_start = window_stop
    for candidate in _LETTER_C.finditer(buf, max(start, end - _MAX_BOUNDARY_BYTES), stop):
        if _could_become_boundary(bytes(buf[candidate.start() :]).lower()):
            return candidate.start(), False
    return stop if stop < end else end, False


def _could_become_boundary(tail: bytes) -> bool:
    if tail.startswith(_TYPE_WORD):
        line_end = tail.find(b"\n")
        if line_end < 0:
            return b"\r" not in tail[:-1]
        if tail[line_end - 1 : line_end] != b"\r" or b"\r" in tail[: line_end - 1]:
            return False
        return _could_become_length_line(tail[line_end + 1 :])
    return _TYPE_WORD.startswith(tail) or _could_become_length_line(tail)


def _could_become_length_line(tail: bytes) -> bool:
    if len(tail) <= len(_LENGTH_WORD):
        return _LENGTH_WORD.startswith(tail)
    return tail.startswith(_LENGTH_WORD) and bool(_LENGTH_LINE_REST_PREFIX.fullmatch(tail[len(_LENGTH_WORD) :]))


_JSON_STRING = rb'"((?:[^"\\\x00-\x1f]|\\.){0,4000})"'
_ID_MEMBER = re.compile(rb'"id"\s*:\s*(?:(-?\d{1,20})(?![\d.eE])|' + _JSON_STRING + rb")")
_METHOD_MEMBER = re.compile(rb'"method"\s*:\s*' + _JSON_STRING)
_URI_MEMBER = re.compile(rb'"uri"\s*:\s*' + _JSON_STRING)
_NESTING = re.compile(rb"[{\[]")


def _sniff(head: bytes) -> tuple[MessageId | None, str | None, str | None]:
    """(request id, method, uri) from the first bytes of a JSON-RPC body, where they can be trusted.

    Before the first nested object or array opens, every member is a top-level one, so an "id"
    found there is the request's own id and never one inside its params.
    """
    head = head.lstrip()
    if not head.startswith(b"{"):
        return None, None, None
    nested = _NESTING.search(head, 1)
    top_level = head if nested is None else head[: nested.start()]
    request_id: MessageId | None = None
    id_match = _ID_MEMBER.search(top_level)
    if id_match is not None:
        request_id = int(id_match.group(1)) if id_match.group(1) is not None else _json_string(id_match.group(2))
    method_match = _METHOD_MEMBER.search(top_level)
    uri_match = _URI_MEMBER.search(head)
    method = _json_string(method_match.group(1)) if method_match else None
    uri = _json_string(uri_match.group(1)) if uri_match else None
    return request_id, method, uri


def _json_string(raw: bytes) -> str | None:
    try:
        value = json.loads(b'"' + raw + b'"')
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, str) else None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decode_body(body: bytes) -> tuple[FrameEvent | None, FrameErrorKind | None]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None, FrameErrorKind.NOT_UTF8
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None, FrameErrorKind.NOT_JSON
    return classify_message(value), None


def _usable_id(value: Any) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def classify_message(value: Any) -> dict[str, Any] | InvalidMessage:
    """Check the JSON-RPC 2.0 envelope; the params are the protocol's business, not the framing's."""
    if isinstance(value, list):
        ids = tuple(
            item["id"] for item in value if isinstance(item, dict) and "method" in item and _usable_id(item.get("id"))
        )
        return InvalidMessage("batch messages are not part of LSP", ids, is_batch=True)
    if not isinstance(value, dict):
        return InvalidMessage(f"a JSON {type(value).__name__}, not a JSON-RPC object")
    might_be_request = "result" not in value and "error" not in value
    request_ids = (value["id"],) if might_be_request and _usable_id(value.get("id")) else ()
    if value.get("jsonrpc") != "2.0":
        return InvalidMessage('"jsonrpc" is not "2.0"', request_ids)
    if "method" in value:
        if not isinstance(value["method"], str):
            return InvalidMessage('"method" is not a string', request_ids)
        if "id" in value and not _usable_id(value["id"]):
            return InvalidMessage('"id" is neither an integer nor a string')
        if not isinstance(value.get("params"), (dict, list, type(None))):
            return InvalidMessage('"params" is neither an object nor an array', request_ids)
        return value
    if "id" in value and ("result" in value or "error" in value):
        if value["id"] is not None and not _usable_id(value["id"]):
            return InvalidMessage('response "id" is neither an integer, a string nor null')
        return value
    return InvalidMessage("neither a request, a notification nor a response", request_ids)
