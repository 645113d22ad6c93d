"""The error that stopped a sandboxed command, found in its output.

The last line of stderr is often a warning printed on the way out (a DeprecationWarning from a
plugin), not the error: pytest's INTERNALERROR block and a Python traceback each end in the line
that names the exception, and that is what a person needs to read.
"""

from __future__ import annotations

import re

_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Failure|Failed))(?::\s*(.*))?$")
_WARNING = re.compile(r"Warning\b|^\s*warnings\.warn\(")


def stopping_error(stdout: str, stderr: str) -> str | None:
    """ "ExceptionType: message" from an INTERNALERROR block or the last traceback; else the last
    line that is not a warning; None when there is no output at all."""
    for text in (stderr, stdout):
        lines = text.splitlines()
        internal = [line.removeprefix("INTERNALERROR>").strip() for line in lines if line.startswith("INTERNALERROR>")]
        for line in reversed(internal):
            if _EXCEPTION_LINE.match(line):
                return line
        last_traceback = max((i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call")),
                             default=None)  # fmt: skip
        if last_traceback is not None:
            for line in lines[last_traceback + 1 :]:
                if not line.startswith((" ", "\t")) and _EXCEPTION_LINE.match(line.strip()):
                    return line.strip()
        for line in reversed(lines):
            stripped = line.strip()
            if stripped.startswith("E ") and _EXCEPTION_LINE.match(stripped[1:].strip()):
                return stripped[1:].strip()
    for text in (stderr, stdout):
        for line in reversed(text.splitlines()):
            if line.strip() and not _WARNING.search(line):
                return line.strip()
    return None
