"""The privacy audit report: what `aqe privacy audit --format json` prints and `aqe.privacyAudit` returns.

One function for both front doors, so the editor and CI can never disagree about what left the machine.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from aqe.config import Settings, snake_to_camel
from aqe.llm.factory import API_KEY_VARIABLE, audit_log_path
from aqe.privacy.audit import blocked_of, decisions_of, entry_json, read_audit, totals
from aqe.sandbox.engines import isolation_support, support_json


def audit_report(
    settings: Settings, workspace_root: Path | None, limit: int = 20, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The mode, the audit log's totals and its last `limit` decisions and blocked connections."""
    if limit < 0:
        raise ValueError("limit must not be negative")
    environ = os.environ if env is None else env
    path = audit_log_path(settings, workspace_root)
    read = read_audit(path)
    decisions, blocked = decisions_of(read.entries), blocked_of(read.entries)
    shown_decisions = decisions[len(decisions) - limit :] if limit else []
    shown_blocked = blocked[len(blocked) - limit :] if limit else []
    summary = totals(read.entries)
    return {
        "privacyMode": settings.privacy_mode,
        "auditLog": str(path),
        "cloudApiKey": "set" if environ.get(API_KEY_VARIABLE, "").strip() else "not set",
        "fallbackThreshold": settings.fallback_threshold,
        "totals": {snake_to_camel(key): value for key, value in asdict(summary).items()},
        "damagedLines": read.damaged_lines,
        "decisions": [entry_json(entry) for entry in shown_decisions],
        "blocked": [entry_json(entry) for entry in shown_blocked],
        "sandbox": {
            **support_json(isolation_support()),
            "allowUncontained": settings.sandbox_allow_uncontained,
            "allowNetwork": settings.sandbox_allow_network,
        },
    }
