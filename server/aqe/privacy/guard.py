"""A tripwire for outbound connections in strict privacy mode.

`install_network_guard` adds a `sys.addaudithook` hook that, while the mode is `strict`, refuses
(raises `NetworkBlocked`, a `PermissionError`) every socket connect, send-to, name lookup or
address lookup aimed at anything but this machine, and records the attempt in the audit log.
Loopback (127.0.0.0/8, ::1, `localhost`), unspecified addresses and Unix sockets are always allowed:
the language server may talk TCP on loopback, and a team inference server on loopback is local.
Host names other than `localhost` are refused without being resolved, because the lookup itself
would already tell a DNS server what we are about to contact.

It is a tripwire, not a sandbox. Audit hooks only see what Python's own socket module does: child
processes and native code (a C library calling connect(2), ctypes) pass straight by. Strict mode
therefore never builds a cloud client in the first place (see aqe.llm.factory); this hook catches a
library or a plugin that tries anyway, and leaves evidence of it.

Audit hooks cannot be removed once added, so the hook is installed once per process and consults
the current mode in `GUARD` on every event: switching the mode (the router does, when settings
change) takes effect at once.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import sys
import threading
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aqe.config import PrivacyMode
    from aqe.privacy.audit import AuditLog

_LOCAL_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback", "localhost.localdomain"})
_STACK_FRAMES = 8
_UNINTERESTING_FILES = frozenset(os.path.normcase(os.path.abspath(path)) for path in (__file__, socket.__file__))


class NetworkBlocked(PermissionError):
    """Strict privacy mode refused an outbound connection; nothing was sent."""


@dataclass(frozen=True)
class BlockedAttempt:
    event: str
    host: str
    port: int | None
    stack: tuple[str, ...]


class GuardState:
    """What the hook consults on every socket event: the mode in force and where to record."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.mode: PrivacyMode = "strict"
        self.audit: AuditLog | None = None
        self.installed = False
        self._blocked: list[BlockedAttempt] = []

    def set_mode(self, mode: PrivacyMode) -> None:
        self.mode = mode

    def record(self, attempt: BlockedAttempt) -> None:
        with self._lock:
            self._blocked.append(attempt)

    @property
    def blocked(self) -> tuple[BlockedAttempt, ...]:
        with self._lock:
            return tuple(self._blocked)


GUARD = GuardState()
_inside_hook = threading.local()


def install_network_guard(audit: AuditLog | None, mode: PrivacyMode = "strict") -> GuardState:
    """Install the hook once for this process (later calls only update the audit log and the mode)."""
    GUARD.audit = audit
    GUARD.set_mode(mode)
    if not GUARD.installed:
        sys.addaudithook(_audit_hook)
        GUARD.installed = True
    return GUARD


def set_guard_mode(mode: PrivacyMode) -> None:
    GUARD.set_mode(mode)


def _audit_hook(event: str, args: tuple[Any, ...]) -> None:
    if not event.startswith("socket.") or GUARD.mode != "strict":
        return
    if getattr(_inside_hook, "active", False):
        return
    target = _outbound_target(event, args)
    if target is None:
        return
    host, port = target
    if is_local_host(host):
        return
    _inside_hook.active = True
    try:
        attempt = BlockedAttempt(event=event, host=host, port=port, stack=_stack_summary())
        GUARD.record(attempt)
        if GUARD.audit is not None:
            with contextlib.suppress(OSError):
                GUARD.audit.record_blocked(attempt, mode=GUARD.mode)
    finally:
        _inside_hook.active = False
    where = f"{host}:{port}" if port is not None else host
    raise NetworkBlocked(f"aqe strict privacy mode blocked an outbound connection to {where} ({event})")


def _outbound_target(event: str, args: tuple[Any, ...]) -> tuple[str, int | None] | None:
    """(host, port) the event would reach, or None when it reaches nothing outside this process."""
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        sock, address = args[0], args[1]
        if address is None or getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
            return None
        return _host_port(address)
    if event == "socket.getaddrinfo":
        host, port = args[0], args[1]
        return _text(host), port if isinstance(port, int) else _port_number(port)
    if event in ("socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr"):
        return _text(args[0]), None
    if event == "socket.getnameinfo":
        return _host_port(args[0])
    return None


def _host_port(address: Any) -> tuple[str, int | None] | None:
    if isinstance(address, tuple) and address:
        port = address[1] if len(address) > 1 and isinstance(address[1], int) else None
        return _text(address[0]), port
    return None


def _text(host: Any) -> str:
    if host is None:
        return ""
    if isinstance(host, (bytes, bytearray)):
        return bytes(host).decode("idna", errors="replace")
    return str(host)


def _port_number(port: Any) -> int | None:
    text = port.decode("ascii", errors="replace") if isinstance(port, bytes) else str(port)
    return int(text) if text.isdigit() else None


def is_local_host(host: str) -> bool:
    """True for this machine: loopback, unspecified (`""`, 0.0.0.0, ::), `localhost` and `*.localhost`."""
    name = host.strip().lower()
    if name == "":
        return True
    if name in _LOCAL_NAMES or name.endswith(".localhost") or name.endswith(".localhost."):
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0].strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def _stack_summary() -> tuple[str, ...]:
    """The innermost frames that are neither this module nor the socket module: who tried to connect."""
    frames = [
        frame
        for frame in traceback.extract_stack()
        if os.path.normcase(os.path.abspath(frame.filename)) not in _UNINTERESTING_FILES
    ]
    return tuple(f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in frames[-_STACK_FRAMES:])
