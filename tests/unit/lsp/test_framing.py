"""FrameDecoder: valid streams decode exactly; broken ones cost at most the broken frame."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from aqe.lsp.transport.framing import (
    DEFAULT_MAX_FRAME_BYTES,
    FrameDecoder,
    FrameError,
    FrameErrorKind,
    FrameEvent,
    InvalidMessage,
    classify_message,
)


def request(msg_id: int | str, method: str = "textDocument/hover", **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}


def encode(message: Any) -> bytes:
    return json.dumps(message, ensure_ascii=False).encode("utf-8")


def frame(message: Any, *, length_delta: int = 0, header: bytes | None = None) -> bytes:
    body = encode(message)
    if header is None:
        header = b"Content-Length: %d\r\n\r\n" % (len(body) + length_delta)
    return header + body


def messages(events: list[FrameEvent]) -> list[dict[str, Any]]:
    return [event for event in events if isinstance(event, dict)]


def errors(events: list[FrameEvent]) -> list[FrameError]:
    return [event for event in events if isinstance(event, FrameError)]


def feed_in_chunks(decoder: FrameDecoder, data: bytes, sizes: list[int]) -> list[FrameEvent]:
    events: list[FrameEvent] = []
    position = 0
    for size in sizes:
        events += decoder.feed(data[position : position + size])
        position += size
    events += decoder.feed(data[position:])
    return events


A = request(1, text="naïve 🐍 ünïcode", padding="x" * 80)
B = request(2, position={"line": 3, "character": 4})
C = {"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {"contentChanges": []}}


# --- valid streams ----------------------------------------------------------------------------------


def test_a_single_frame_decodes_to_its_message() -> None:
    assert FrameDecoder().feed(frame(A)) == [A]


def test_many_frames_in_one_chunk_decode_in_order() -> None:
    stream = b"".join(frame(request(index, n=index)) for index in range(500))

    events = FrameDecoder().feed(stream)

    assert events == [request(index, n=index) for index in range(500)]


def test_a_stream_split_at_every_byte_boundary_decodes_the_same() -> None:
    stream = frame(A) + frame(B) + frame(C)

    for split in range(len(stream) + 1):
        decoder = FrameDecoder()
        events = decoder.feed(stream[:split]) + decoder.feed(stream[split:])
        assert events == [A, B, C], f"split at byte {split}"


def test_a_stream_fed_one_byte_at_a_time_decodes_the_same() -> None:
    stream = frame(A) + frame(B) + frame(C)

    assert feed_in_chunks(FrameDecoder(), stream, [1] * len(stream)) == [A, B, C]


def test_header_names_are_case_insensitive_and_other_headers_are_tolerated() -> None:
    body = encode(B)
    stream = (
        b"content-length: %d\r\n\r\n" % len(body)
        + body
        + b"CONTENT-LENGTH:%d\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n" % len(body)
        + body
        + b"Content-Type: application/vscode-jsonrpc\r\nX-Trace: 7\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body
    )

    assert FrameDecoder().feed(stream) == [B, B, B]


def test_header_text_inside_a_json_string_is_not_mistaken_for_a_frame_boundary() -> None:
    source = "HEADER = 'Content-Length: 12\\r\\n\\r\\n'\r\nContent-Type: text\r\nContent-Length: 12"
    did_open = {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"text": source}}
    pretty = json.dumps({"jsonrpc": "2.0", "id": 9, "method": "x", "params": {"note": "content-type: y"}}, indent=1)
    pretty_crlf = pretty.replace("\n", "\r\n").encode()
    stream = frame(did_open) + b"Content-Length: %d\r\n\r\n" % len(pretty_crlf) + pretty_crlf + frame(B)

    assert FrameDecoder().feed(stream) == [did_open, json.loads(pretty), B]


# --- wrong or missing Content-Length ----------------------------------------------------------------


@pytest.mark.parametrize("delta", [d for d in range(-50, 51) if d != 0])
def test_a_wrong_content_length_costs_nothing_but_a_warning(delta: int) -> None:
    events = FrameDecoder().feed(frame(A, length_delta=delta) + frame(B) + frame(C))

    assert messages(events) == [A, B, C]
    assert [error.kind for error in errors(events)] == [FrameErrorKind.LENGTH_MISMATCH]


@pytest.mark.parametrize("delta", [-50, -7, -1, 1, 7, 50])
def test_a_wrong_content_length_is_repaired_even_when_bytes_trickle_in(delta: int) -> None:
    stream = frame(A, length_delta=delta) + frame(B) + frame(C)

    events = feed_in_chunks(FrameDecoder(), stream, [1] * len(stream))

    assert messages(events) == [A, B, C]


@pytest.mark.parametrize("delta", [-50, -1, 1, 50])
def test_a_wrong_length_on_a_body_that_is_not_json_drops_only_that_frame(delta: int) -> None:
    broken = b"Content-Length: %d\r\n\r\n" % (100 + delta) + b"\x00not json\xff" * 10

    events = FrameDecoder().feed(broken + frame(B) + frame(C))

    assert messages(events) == [B, C]
    assert sum(error.dropped_bytes for error in errors(events)) == len(broken)


def test_a_too_long_length_on_the_last_frame_so_far_waits_for_the_next_header() -> None:
    decoder = FrameDecoder()

    assert messages(decoder.feed(frame(A, length_delta=50))) == []
    assert messages(decoder.feed(frame(B))) == [A, B]


def test_a_frame_without_content_length_is_delivered_when_its_body_is_json() -> None:
    stream = b"Content-Type: application/vscode-jsonrpc\r\n\r\n" + encode(A) + frame(B)

    events = FrameDecoder().feed(stream)

    assert messages(events) == [A, B]
    assert [error.kind for error in errors(events)] == [FrameErrorKind.LENGTH_MISMATCH]


def test_a_frame_without_content_length_and_without_json_is_dropped() -> None:
    broken = b"Content-Type: application/vscode-jsonrpc\r\n\r\n" + b"no json here"

    events = FrameDecoder().feed(broken + frame(B))

    assert messages(events) == [B]
    assert sum(error.dropped_bytes for error in errors(events)) == len(broken)


@pytest.mark.parametrize(
    "header",
    [
        b"Content-Length: twelve\r\n\r\n",
        b"Content-Length: -5\r\n\r\n",
        b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"Content-Length: 0\r\n\r\n",
        b"Content-Length 5\r\n\r\n",
        b"\r\n\r\n",
    ],
)
def test_an_unusable_header_is_dropped_and_the_next_frame_decodes(header: bytes) -> None:
    events = FrameDecoder().feed(header + frame(B))

    assert messages(events) == [B]
    assert errors(events)


# --- garbage and bad bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\x01\x02\xff" * 40,
        b"hello world, this is not a frame",
        b"\r\n",
        b"   ",
        b"}",
        b"Content-",
        b'{"half": ',
        "ünïcode ǵarbage".encode(),
    ],
)
def test_garbage_between_frames_is_dropped_byte_exact(garbage: bytes) -> None:
    events = FrameDecoder().feed(frame(A) + garbage + frame(B))

    assert messages(events) == [A, B]
    assert sum(error.dropped_bytes for error in errors(events)) == len(garbage)


def test_a_body_that_is_not_utf8_is_reported_and_the_next_frame_decodes() -> None:
    body = b'{"jsonrpc": "2.0", "id": 1, "method": "\xff\xfe"}'

    events = FrameDecoder().feed(b"Content-Length: %d\r\n\r\n" % len(body) + body + frame(B))

    assert messages(events) == [B]
    assert [error.kind for error in errors(events)] == [FrameErrorKind.NOT_UTF8]


@pytest.mark.parametrize("body", [b"{not json}", b'{"a": NaN}', b"[" * 100_000, b'{"a": 1', b"1" * 5000])
def test_a_body_that_is_not_json_is_reported_and_the_next_frame_decodes(body: bytes) -> None:
    events = FrameDecoder().feed(b"Content-Length: %d\r\n\r\n" % len(body) + body + frame(B))

    assert messages(events) == [B]
    assert [error.kind for error in errors(events)] == [FrameErrorKind.NOT_JSON]


# --- size caps --------------------------------------------------------------------------------------


def test_a_terabyte_claim_is_skipped_without_buffering_and_the_next_frame_decodes() -> None:
    decoder = FrameDecoder()
    junk = random.Random(1).randbytes(64 * 1024)
    peak = 0

    events = decoder.feed(b"Content-Length: 1099511627776\r\n\r\n")
    for _ in range(1024):
        events += decoder.feed(junk)
        peak = max(peak, decoder.buffered_bytes)
    events += decoder.feed(frame(B))

    assert messages(events) == [B]
    assert [error.kind for error in errors(events)] == [FrameErrorKind.FRAME_TOO_LARGE]
    assert peak < 1024


def test_a_terabyte_claim_followed_at_once_by_a_frame_loses_only_the_claim() -> None:
    events = FrameDecoder().feed(b"Content-Length: 1099511627776\r\n\r\n" + frame(B))

    assert messages(events) == [B]


def test_an_oversized_frame_is_skipped_to_its_end_when_no_header_interrupts_it() -> None:
    decoder = FrameDecoder(max_frame_bytes=1024)
    header = b"Content-Length: 5000\r\n\r\n"

    events = decoder.feed(header) + decoder.feed(b"z" * 5000) + decoder.feed(frame(B))

    assert messages(events) == [B]
    [error] = errors(events)
    assert error.kind is FrameErrorKind.FRAME_TOO_LARGE
    assert error.dropped_bytes == len(header) + 5000


def test_an_oversized_notification_is_reported_with_its_method_and_document() -> None:
    did_open = {
        "jsonrpc": "2.0",
        "method": "textDocument/didOpen",
        "params": {"textDocument": {"uri": "file:///big%20file.py", "text": "x" * 5000}},
    }

    events = FrameDecoder(max_frame_bytes=1024).feed(frame(did_open) + frame(B))

    assert messages(events) == [B]
    [error] = errors(events)
    assert (error.kind, error.request_id, error.method, error.uri) == (
        FrameErrorKind.FRAME_TOO_LARGE,
        None,
        "textDocument/didOpen",
        "file:///big%20file.py",
    )


@pytest.mark.parametrize("msg_id", [42, "req-7"])
def test_an_oversized_request_is_reported_with_its_id(msg_id: int | str) -> None:
    events = FrameDecoder(max_frame_bytes=1024).feed(frame(request(msg_id, text="x" * 5000)))

    [error] = errors(events)
    assert error.request_id == msg_id


def test_an_id_inside_the_params_of_an_oversized_message_is_not_taken_for_its_own() -> None:
    cancel_like = {"jsonrpc": "2.0", "method": "$/custom", "params": {"id": 5, "data": "x" * 5000}}

    [error] = errors(FrameDecoder(max_frame_bytes=1024).feed(frame(cancel_like)))

    assert error.request_id is None


def test_a_frame_at_the_cap_is_still_accepted() -> None:
    message = request(1, text="x" * 1000)
    body = encode(message)

    assert FrameDecoder(max_frame_bytes=len(body)).feed(frame(message)) == [message]


def test_the_default_cap_is_sixteen_mebibytes() -> None:
    assert DEFAULT_MAX_FRAME_BYTES == 16 * 1024 * 1024


def test_a_huge_header_line_is_capped_and_the_next_frame_decodes() -> None:
    decoder = FrameDecoder(max_header_bytes=8 * 1024)
    peak = 0

    events = decoder.feed(b"X-Long: ")
    for _ in range(128):
        events += decoder.feed(b"a" * 8 * 1024)
        peak = max(peak, decoder.buffered_bytes)
    events += decoder.feed(b"\r\n\r\n" + frame(B))

    assert messages(events) == [B]
    assert FrameErrorKind.HEADER_TOO_LARGE in {error.kind for error in errors(events)}
    assert peak <= 2 * 8 * 1024


def test_memory_stays_bounded_by_the_frame_cap_plus_the_recovery_window() -> None:
    decoder = FrameDecoder(max_frame_bytes=4096, recovery_window_bytes=4096)
    rng = random.Random(7)
    peak = 0

    for _ in range(2000):
        decoder.feed(b"Content-Length: 4000\r\n\r\n" + rng.randbytes(rng.randrange(0, 3000)))
        peak = max(peak, decoder.buffered_bytes)

    assert peak <= 4096 + 4096 + 3000


def test_the_end_of_the_stream_inside_a_frame_is_reported() -> None:
    decoder = FrameDecoder()
    decoder.feed(frame(A)[:-10])

    [error] = decoder.finish()

    assert error.kind is FrameErrorKind.TRUNCATED
    assert error.dropped_bytes == len(frame(A)) - 10


# --- JSON-RPC envelopes -----------------------------------------------------------------------------


def test_a_batch_is_invalid_and_names_the_ids_waiting_for_an_answer() -> None:
    batch = [request(1), {"jsonrpc": "2.0", "method": "initialized"}, request("two")]

    assert classify_message(batch) == InvalidMessage("batch messages are not part of LSP", (1, "two"), is_batch=True)


@pytest.mark.parametrize("value", [5, "text", None, True, 1.5])
def test_a_json_scalar_is_invalid_with_no_id_to_answer(value: Any) -> None:
    result = classify_message(value)

    assert isinstance(result, InvalidMessage)
    assert result.request_ids == ()


@pytest.mark.parametrize(
    ("message", "ids"),
    [
        ({"id": 3, "method": "x"}, (3,)),
        ({"jsonrpc": "1.0", "id": "a", "method": "x"}, ("a",)),
        ({"jsonrpc": "2.0", "id": 4, "method": 17}, (4,)),
        ({"jsonrpc": "2.0", "id": 5, "method": "x", "params": "flat"}, (5,)),
        ({"jsonrpc": "2.0", "id": 6}, (6,)),
        ({"jsonrpc": "2.0", "id": True, "method": "x"}, ()),
        ({"jsonrpc": "2.0", "id": [1], "method": "x"}, ()),
        ({"jsonrpc": "1.0", "id": 7, "result": 1}, ()),
        ({"jsonrpc": "2.0"}, ()),
    ],
)
def test_an_object_that_is_not_json_rpc_is_invalid_and_keeps_a_usable_request_id(
    message: dict[str, Any], ids: tuple[Any, ...]
) -> None:
    result = classify_message(message)

    assert isinstance(result, InvalidMessage)
    assert result.request_ids == ids


@pytest.mark.parametrize(
    "message",
    [
        request(1),
        {"jsonrpc": "2.0", "id": "s", "method": "shutdown"},
        {"jsonrpc": "2.0", "method": "exit", "params": None},
        {"jsonrpc": "2.0", "id": 1, "result": None},
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}},
    ],
)
def test_requests_notifications_and_responses_pass_unchanged(message: dict[str, Any]) -> None:
    assert classify_message(message) is message


def test_an_invalid_message_inside_a_frame_does_not_disturb_the_stream() -> None:
    events = FrameDecoder().feed(frame([1, 2]) + frame(B))

    assert events == [InvalidMessage("batch messages are not part of LSP", (), is_batch=True), B]


# --- fuzz -------------------------------------------------------------------------------------------


def _garbage(rng: random.Random) -> bytes:
    kind = rng.randrange(9)
    noise = rng.randbytes(rng.randrange(0, 200))
    if kind == 0:
        return noise
    if kind == 1:
        return b"Content-Length: %d\r\n\r\n" % len(noise) + noise
    if kind == 2:
        return b"Content-Length: %d\r\n\r\n" % max(0, len(noise) + rng.randint(-50, 50)) + noise
    if kind == 3:
        return frame(rng.choice([[], 7, "s", None, {"a": 1}, {"jsonrpc": "2.0"}]))
    if kind == 4:
        return frame(request(f"g{rng.randrange(10**6)}"), length_delta=rng.randint(-50, 50))
    if kind == 5:
        return b"Content-Length: %d\r\n\r\n" % rng.randrange(10**6, 10**13)
    if kind == 6:
        return encode(request("loose"))
    if kind == 7:
        return rng.choice([b"\r\n", b"\r\n\r\n", b"Content-Length: ", b"content-type: x\r\n", b"}"])
    return frame(request("whole"))[: rng.randrange(1, 40)]


def test_fuzz_every_valid_frame_between_ten_thousand_bad_ones_decodes_exactly_once() -> None:
    rng = random.Random(20251125)
    parts: list[bytes] = []
    probes: list[dict[str, Any]] = []
    for index in range(10_000):
        parts.append(_garbage(rng))
        if index % 10 == 9:
            probe = request(index, method="$/probe", seq=index)
            probes.append(probe)
            parts.append(frame(probe))
    stream = b"".join(parts)
    decoder = FrameDecoder(max_frame_bytes=1024 * 1024)
    sizes = [rng.choice([1, 7, 100, 4096, 65536]) for _ in range(len(stream) // 1000)]

    events = feed_in_chunks(decoder, stream, sizes) + decoder.finish()

    decoded = [event for event in messages(events) if event.get("method") == "$/probe"]
    assert decoded == probes
