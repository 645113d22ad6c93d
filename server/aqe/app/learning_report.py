"""What was learned, as Markdown a person reads (the editor opens it; `aqe state show --format markdown`
prints it): what is hidden and why, what is still shown, the conventions found, and how to undo."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aqe.app.learning import RecordedFeedback
from aqe.learning.events import REJECT


def learned_markdown(learned: Mapping[str, Any]) -> str:
    """`learned` is LearningService.learned(): one section per workspace folder."""
    enabled = "on" if learned.get("learningEnabled") else "off"
    lines = [
        "# What aqe learned",
        "",
        f"Learning is {enabled}. A rule or convention is hidden when its estimated acceptance falls under "
        f"{learned.get('qualityThreshold')} (the `qualityThreshold` setting); `ewcLambda` "
        f"({learned.get('ewcLambda')}) is how many pseudo-observations of the prior one rejection is weighed against.",
        "",
        "Bring a hidden rule back with **aqe: Reset learned** (`aqe.resetLearned`) or `aqe state reset <rule>`.",
    ]
    for folder in learned.get("folders", ()):
        lines += ["", f"## {folder['root']}", "", f"{folder['events']} feedback events."]
        if folder.get("error"):
            lines += ["", f"**The learned state could not be read:** {folder['error']} (nothing is hidden)."]
        subjects: Sequence[Mapping[str, Any]] = folder.get("subjects", ())
        hidden = [row for row in subjects if not row["shown"]]
        shown = [row for row in subjects if row["shown"]]
        lines += ["", "### Hidden in this workspace", ""]
        lines += _table(hidden) if hidden else ["Nothing is hidden."]
        lines += ["", "### Still shown", ""]
        lines += _table(shown) if shown else ["No feedback on any other rule yet."]
        conventions = folder.get("conventions", ())
        if conventions:
            lines += ["", "### Conventions found in the code", "", "| convention | evidence |", "|---|---|"]
            lines += [f"| `{c['id']}` | {_cell(str(c['evidence']))} |" for c in conventions]
        extra = [
            f"{folder.get('examples', 0)} accepted fixes kept as examples for model review",
            f"{folder.get('rejectedModelFindings', 0)} rejected model findings",
        ]
        imported = folder.get("importedFrom") or []
        if imported:
            extra.append("imported from " + ", ".join(imported))
        lines += ["", "; ".join(extra) + "."]
    return "\n".join(lines) + "\n"


def _table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    table = [
        "| rule or convention | accepted | rejected | ignored here | estimated acceptance |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        table.append(
            f"| `{row['subject']}` | {row['accepted']:g} | {row['rejected']:g} | {row['suppressed']} | "
            f"{row['estimatedAcceptance']:.2f} |"
        )
    return table


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def feedback_message(recorded: RecordedFeedback, threshold: float) -> str | None:
    """What a "Not our standard" did and what the next one will do; None for other feedback, whose
    effect is visible where it was given (a fix applied, a marker written)."""
    if recorded.kind != REJECT:
        return None
    before, after = recorded.before, recorded.after
    subject, rejected, accepted = after.subject, f"{after.rejected:g}", f"{after.accepted:g}"
    times = "rejection" if after.rejected == 1 else "rejections"
    if before.shown and not after.shown:
        return (
            f"{subject} is now hidden in this workspace after {rejected} {times} ({accepted} accepted). "
            "Undo brings it back; Show learned lists what is hidden and why."
        )
    if not after.shown:
        return f"{subject} stays hidden in this workspace ({rejected} {times}, {accepted} accepted)."
    if after.rejections_to_hide == 1:
        then = "one more rejection will hide it in this workspace"
    elif after.rejections_to_hide is not None:
        then = f"{after.rejections_to_hide} more rejections will hide it in this workspace"
    else:
        then = f"it stays shown while its estimated acceptance ({after.acceptance:.2f}) is at least {threshold}"
    return f"{subject}: rejection recorded ({rejected} {times}, {accepted} accepted); {then}."
