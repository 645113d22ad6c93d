"""`aqe privacy audit`: the privacy mode, what left the machine, and what contains project code."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING

from aqe.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    load_project_settings,
    project_root,
)

if TYPE_CHECKING:
    from aqe.config import Settings


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    privacy = commands.add_parser("privacy", help="privacy mode and the audit log")
    privacy_commands = privacy.add_subparsers(dest="privacy_command", metavar="SUBCOMMAND")
    audit = privacy_commands.add_parser("audit", help="the mode, recent routing decisions and blocked connections")
    audit.add_argument("--format", choices=("text", "json"), default="text")
    audit.add_argument("--limit", type=int, default=20, metavar="N", help="show the last N of each (default 20)")
    audit.set_defaults(run=_privacy_audit)


def _sandbox_line(support, settings: Settings) -> str:  # type: ignore[no-untyped-def]
    if support.contained:
        return f"{support.detail}; project code is contained"
    accepted = "runs anyway (sandboxAllowUncontained)" if settings.sandbox_allow_uncontained else "runs nothing"
    return f"NOT CONTAINED: {support.detail}; project code {accepted}"


def _privacy_audit(args: argparse.Namespace) -> int:
    from aqe.llm.factory import API_KEY_VARIABLE, audit_log_path
    from aqe.llm.router import describe_rules
    from aqe.privacy.audit import blocked_of, decisions_of, read_audit, totals
    from aqe.privacy.report import audit_report

    if args.limit < 0:
        print("aqe privacy audit: --limit must not be negative", file=sys.stderr)
        return EXIT_USAGE
    root = project_root([])
    loaded = load_project_settings(root)
    settings = loaded.settings
    if args.format == "json":
        print(json.dumps(audit_report(settings, root, args.limit), indent=2, ensure_ascii=False))
        return EXIT_OK
    path = audit_log_path(settings, root)
    read = read_audit(path)
    decisions, blocked = decisions_of(read.entries), blocked_of(read.entries)
    shown_decisions = decisions[len(decisions) - args.limit :] if args.limit else []
    shown_blocked = blocked[len(blocked) - args.limit :] if args.limit else []
    summary = totals(read.entries)
    cloud_key = "set" if os.environ.get(API_KEY_VARIABLE, "").strip() else "not set"
    from aqe.sandbox.engines import isolation_support

    print(f"privacy mode: {settings.privacy_mode}")
    print(f"sandbox:      {_sandbox_line(isolation_support(), settings)}")
    print(f"audit log:    {path}" + ("" if path.exists() else " (no entries yet)"))
    if settings.privacy_mode != "strict":
        print(f"cloud:        {API_KEY_VARIABLE} {cloud_key}; asked below confidence {settings.fallback_threshold}")
        print("complex when: " + "; ".join(describe_rules()))
    print(
        f"totals:       {summary.decisions} requests, {summary.sent_off_machine} sent off the machine "
        f"({summary.bytes_sent} bytes), {summary.redactions} secrets redacted, "
        f"{summary.blocked} connections blocked, {summary.failed} failed"
    )
    if read.damaged_lines:
        print(f"note:         {read.damaged_lines} damaged line(s) skipped")
    print(f"\nrecent decisions ({len(shown_decisions)} of {len(decisions)}):")
    for entry in shown_decisions:
        redacted = sum(entry.redactions.values())
        extra = (f", {redacted} redacted" if redacted else "") + (f", {entry.outcome}" if entry.outcome != "ok" else "")
        print(
            f"  {entry.time}  {entry.request_id}  {entry.route:<30} {entry.provider}/{entry.model}  "
            f"{entry.bytes_sent} B sent{extra} - {entry.reason}"
        )
    print(f"\nblocked connection attempts ({len(shown_blocked)} of {len(blocked)}):")
    for entry in shown_blocked:
        where = f"{entry.host}:{entry.port}" if entry.port is not None else entry.host
        caller = entry.stack[-1] if entry.stack else "unknown caller"
        print(f"  {entry.time}  {where:<28} {entry.event}  pid {entry.pid}  from {caller}")
    return EXIT_OK
