"""What a test's failures show, read from the traceback pytest (or Python) wrote into the report: the
exception's type and errno, the frames (file:function) it came through, and the values an
assertion compared. Structure, not words: no cause is ever read from a message's wording.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass

_SEPARATOR = re.compile(r"^(_ )+_?\s*$")
_LOCATION = re.compile(r"^(?P<file>[^\s:][^:]*\.py):(?P<line>\d+):(?: in (?P<function>[\w.<>]+)| (?P<exc>[\w.]+))?\s*$")
_PY_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>[\w.<>]+)')
_DEF = re.compile(r"^\s*(?:async\s+)?def\s+(\w+)\s*\(")
_E_LINE = re.compile(r"^E\s+(?P<exc>[A-Za-z_][\w.]*(?:Error|Exception|Timeout|timeout|Warning|Exit|Interrupt|error))"
                     r"(?::\s*(?P<rest>.*))?$")  # fmt: skip
_HEAD = re.compile(r"^(?P<exc>[A-Za-z_][\w.]*(?:Error|Exception|Timeout|timeout|Warning|Exit|Interrupt|error))(?::|$)")
_ERRNO = re.compile(r"^\[Errno (\d+)\]")
_ASSERT = re.compile(r"^E\s+(?:AssertionError: )?assert (?P<left>.+?) (?P<op>==|!=|<=|>=|<|>|in|not in) (?P<right>.+)$")
_WHERE = re.compile(r"^E\s+\+\s+where (?P<value>.+?) = ")


@dataclass(frozen=True)
class Frame:
    file: str
    line: int
    function: str | None


@dataclass(frozen=True)
class FailureFacts:
    exception: str | None
    """The exception's type as printed: `AssertionError`, `socket.timeout`, `urllib.error.URLError`."""
    errno: int | None
    frames: tuple[Frame, ...]
    compared: tuple[str, str] | None
    """The two sides of a failed `assert left <op> right`, as pytest showed their values."""
    where: tuple[str, ...] = ()
    """Intermediate values pytest showed (`+  where False = <Job>.done`)."""

    @property
    def modules(self) -> tuple[str, ...]:
        """The files the failure came through, by their base name (`socket.py`, `client.py`)."""
        return tuple(frame.file.rsplit("/", 1)[-1] for frame in self.frames)


def read_failure(text: str) -> FailureFacts:
    """Facts of one failure's report text; empty facts when it holds no traceback."""
    lines = text.splitlines()
    frames: list[Frame] = []
    exception: str | None = None
    rest: str | None = None
    compared: tuple[str, str] | None = None
    where: list[str] = []
    section_function: str | None = None
    for line in lines:
        if _SEPARATOR.match(line):
            section_function = None
            continue
        definition = _DEF.match(line)
        if definition and section_function is None:
            section_function = definition.group(1)
        python_frame = _PY_FRAME.match(line)
        if python_frame:
            frames.append(Frame(python_frame["file"], int(python_frame["line"]), python_frame["function"]))
            continue
        location = _LOCATION.match(line)
        if location:
            frames.append(Frame(location["file"], int(location["line"]), location["function"] or section_function))
            if location["exc"]:
                exception = location["exc"]
            section_function = None
            continue
        error = _E_LINE.match(line)
        if error:
            exception, rest = error["exc"], error["rest"]
        asserted = _ASSERT.match(line)
        if asserted and compared is None:
            compared = (asserted["left"].strip(), asserted["right"].strip())
        value = _WHERE.match(line)
        if value:
            where.append(value["value"].strip())
    if exception is None and lines:
        head = _HEAD.match(lines[0])
        if head:
            exception = head["exc"]
            rest = lines[0][len(head["exc"]) + 1 :].strip()
        elif lines[0].startswith("assert "):
            exception = "AssertionError"
    errno = None
    if rest:
        match = _ERRNO.match(rest)
        errno = int(match.group(1)) if match else None
    if compared is None and lines and lines[0].startswith("assert "):
        first = _ASSERT.match("E   " + lines[0])
        compared = (first["left"].strip(), first["right"].strip()) if first else None
    return FailureFacts(exception, errno, tuple(frames), compared, tuple(where))


@dataclass(frozen=True)
class ValueDifference:
    """How the compared values vary over failing runs."""

    varying_side: str | None
    """"left", "right" or None when neither (or both) sides vary."""
    values: tuple[str, ...]
    kind: str | None
    """What the values look like: "float-rounding", "permutation", "clock", or None."""

    def describe(self) -> str:
        shown = ", ".join(self.values[:3])
        what = {
            "float-rounding": "they differ from the expected value only in the last digits of a float",
            "permutation": "the same elements in a different order",
            "clock": "clock readings",
        }.get(self.kind or "", "")
        side = (
            f"the {self.varying_side} side of the assertion varies between failing runs"
            if self.varying_side
            else ("the assertion compared")
        )
        return f"{side} ({shown})" + (f": {what}" if what else "")


def value_difference(failures: Sequence[FailureFacts]) -> ValueDifference | None:
    pairs = [f.compared for f in failures if f.compared is not None]
    if not pairs:
        return None
    lefts = tuple(dict.fromkeys(left for left, _ in pairs))
    rights = tuple(dict.fromkeys(right for _, right in pairs))
    side = None
    values = lefts
    if len(lefts) > 1 and len(rights) == 1:
        side = "left"
    elif len(rights) > 1 and len(lefts) == 1:
        side, values = "right", rights
    kinds = {_kind(left, right) for left, right in pairs}
    kind = kinds.pop() if len(kinds) == 1 else None
    return ValueDifference(side, values, kind)


def _literal(text: str) -> object:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def _kind(left: str, right: str) -> str | None:
    a, b = _literal(left), _literal(right)
    close = isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool) and a != b
    if close and abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b)):  # type: ignore[operator, arg-type]
        return "float-rounding"
    if isinstance(a, (list, tuple, str)) and isinstance(b, (list, tuple, str)) and type(a) is type(b):
        try:
            if a != b and sorted(a) == sorted(b):  # type: ignore[type-var]
                return "permutation"
        except TypeError:
            return None
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 1e9 for v in (a, b)):
        return "clock"  # seconds (or finer) since the epoch
    return None
