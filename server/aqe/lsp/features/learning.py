"""Learning in the editor: convention findings, feedback on every finding, hiding what the team does
not want, and the commands to show, reset, export and import what was learned.

Every rule, convention and model finding offers "Not our standard" (reject) and "Ignore here"
(suppress this place only, by writing the `aqe: ignore[...]` marker); a fix is offered as "Apply fix"
(accept), and a finding without a fix that an edit makes go away was fixed by hand (accept too,
aqe.learning.implicit). Each action carries a command with a token the server handed out with that action, so the
server records only feedback on findings it actually offered: a forged or replayed argument, or text
a model wrote, cannot approve anything. An applied fix that is later undone or edited is recorded too.

All of it goes to the feedback log (aqe.learning.events); the learned state is recomputed from the
log after each event (aqe.learning.state), and diagnostics are refreshed so a rule the team keeps
rejecting disappears from every open file. Convention mining reads the workspace in the background
after start-up and each open document as it changes.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.capabilities import get_capability

from aqe.app.learning import RecordedFeedback, SubjectVerdict, snippet_of
from aqe.app.learning_report import feedback_message, learned_markdown
from aqe.durable import atomic_write_bytes
from aqe.findings import Finding, FindingSource, TextEdit
from aqe.learning.events import ACCEPT, EDIT, REJECT, SUPPRESS, UNDO, FeedbackEvent
from aqe.learning.filtering import area_of
from aqe.learning.state import StateFileError
from aqe.lsp.convert import DIAGNOSTIC_SOURCE, findings_in_context, to_diagnostic, to_text_edit
from aqe.lsp.features.diagnostics import DiagnosticsFeature
from aqe.lsp.server import AqeLanguageServer
from aqe.parsing.source import SourceText
from aqe.review.suppression import suppression_edit
from aqe.workspace import path_from_uri

log = logging.getLogger(__name__)

RECORD_FEEDBACK_COMMAND = "aqe.recordFeedback"
SHOW_LEARNED_COMMAND = "aqe.showLearned"
EXPORT_STATE_COMMAND = "aqe.exportState"
IMPORT_STATE_COMMAND = "aqe.importState"
RESET_LEARNED_COMMAND = "aqe.resetLearned"
FORCE_LEARN_COMMAND = "aqe.forceLearn"
UNDO_FEEDBACK_COMMAND = "aqe.undoFeedback"
OPEN_LEARNED_COMMAND = "aqe.openLearned"
UNDO_ACTION = "Undo"
SHOW_LEARNED_ACTION = "Show learned"
LEARNED_DOCUMENT = "learned.md"

FEEDBACK_DIAGNOSTIC_SOURCES = (DIAGNOSTIC_SOURCE, "coverage", "flaky")
"""The `source` of the diagnostics whose findings take feedback: aqe's review, coverage hints and flaky marks."""
LEARNED_SOURCES = (FindingSource.RULE, FindingSource.CONVENTION, FindingSource.MODEL)
_OFFERED_LIMIT = 5000
_SNIPPET_LINES = 12
_WATCHED_LIMIT = 200


@dataclass(frozen=True)
class Offered:
    """A finding as it was when an action on it was offered, kept under the action's token."""

    uri: str
    root: Path
    relative: str
    finding: Finding
    snippet: str
    before: str = ""
    after: str = ""


@dataclass(frozen=True)
class _Undoable:
    """Recorded feedback the user may still take back (from the notification or the undo command)."""

    offered: Offered
    recorded: RecordedFeedback


@dataclass
class _Applied:
    """An accepted fix, watched for an undo (the old code is back) or an edit (its new code changed)."""

    offered: Offered
    reported: bool = False


class LearningFeature:
    def __init__(self, server: AqeLanguageServer) -> None:
        self.server = server
        self.learning = server.learning
        self._lock = threading.RLock()
        self._offered: OrderedDict[str, Offered] = OrderedDict()
        self._applied: list[_Applied] = []
        self._undoable: OrderedDict[str, _Undoable] = OrderedDict()
        self._scanned_for: tuple[tuple[Path, ...], tuple[str, ...], bool] | None = None

    @classmethod
    def of(cls, server: AqeLanguageServer) -> LearningFeature:
        return server.features.get(cls, lambda: cls(server))

    def root_of(self, uri: str) -> tuple[Path, str] | None:
        path = path_from_uri(uri)
        return self.learning.locate(path) if path is not None else None

    async def scan_conventions(self) -> None:
        """Mine every workspace folder in a worker thread, then refresh the open documents."""
        settings = self.server.settings
        key = (self.server.workspace_roots, settings.exclude, settings.conventions_enabled)
        if key == self._scanned_for:
            return
        self._scanned_for = key
        if not settings.conventions_enabled:
            self.learning.forget_conventions()
            return
        loop = asyncio.get_running_loop()
        strong = 0
        for root in self.server.workspace_roots:
            strong += await loop.run_in_executor(None, self.learning.mine_conventions, root)
        if strong and self.server.engine.open_uris():
            DiagnosticsFeature.of(self.server).settings_changed()  # no strong convention: nothing to show

    # --- code actions and feedback ------------------------------------------------------------------

    def offer(self, uri: str, finding: Finding, text: str, fix_edits: tuple[TextEdit, ...] = ()) -> str | None:
        """A token for an action on this finding; None when the finding is outside the workspace."""
        located = self.root_of(uri)
        if located is None:
            return None
        root, relative = located
        before = after = ""
        if fix_edits:
            before, after = _before_and_after(text, finding, fix_edits)
        token = secrets.token_hex(12)
        with self._lock:
            self._offered[token] = Offered(uri, root, relative, finding, snippet_of(text, finding), before, after)
            while len(self._offered) > _OFFERED_LIMIT:
                self._offered.popitem(last=False)
        return token

    def command(self, title: str, kind: str, token: str | None) -> types.Command | None:
        if token is None:
            return None
        return types.Command(title=title, command=RECORD_FEEDBACK_COMMAND, arguments=[{"token": token, "kind": kind}])

    def actions_for(self, uri: str, text: str, findings: list[Finding], parsed: Any) -> list[types.CodeAction]:
        """Offers "Not our standard" for every learnable finding and "Ignore here" for the providers' findings
        (the rules' own "Ignore" action lives with the rules' quick fixes and records the same)."""
        actions: list[types.CodeAction] = []
        for finding in findings:
            if finding.source not in LEARNED_SOURCES:
                continue
            diagnostic = to_diagnostic(finding)
            reject = self.command("Not our standard", REJECT, self.offer(uri, finding, text))
            if reject is None:
                continue
            actions.append(
                types.CodeAction(
                    title=f"Not our standard: {finding.rule_id}",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic],
                    command=reject,
                )
            )
            if finding.source is not FindingSource.RULE and parsed is not None:
                edit = suppression_edit(parsed, finding)
                actions.append(
                    types.CodeAction(
                        title=f"Ignore {finding.rule_id} here",
                        kind=types.CodeActionKind.QuickFix,
                        diagnostics=[diagnostic],
                        edit=types.WorkspaceEdit(changes={uri: [to_text_edit(edit)]}),
                        command=self.command("Ignore here", SUPPRESS, self.offer(uri, finding, text)),
                    )
                )
        return actions

    async def code_actions(self, ls: AqeLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        only = params.context.only
        if only and not any(types.CodeActionKind.QuickFix.startswith(kind) for kind in only):
            return []
        uri = params.text_document.uri
        document = ls.engine.get_document(uri)
        if document is None or document.parsed is None:
            return []
        diagnostics = DiagnosticsFeature.of(ls)
        analysis = diagnostics.latest(uri) or await diagnostics.analyze(uri)
        if analysis is None or analysis.version != document.version:
            return []
        shown = [*analysis.findings, *diagnostics.extras(uri, analysis.version)]
        asked_about = findings_in_context(shown, params, FEEDBACK_DIAGNOSTIC_SOURCES)
        return self.actions_for(uri, document.text, asked_about, document.parsed)

    def record(self, token: str, kind: str) -> tuple[RecordedFeedback, str]:
        """Record feedback on an offered finding; raises ValueError for a token we never handed out.
        Returns what it changed and a token that undoes it."""
        if kind not in (ACCEPT, REJECT, SUPPRESS):
            raise ValueError(f"unknown feedback kind {kind!r} (expected accept, reject or suppress)")
        with self._lock:
            offered = self._offered.get(token)
        if offered is None:
            raise ValueError("aqe did not offer this action (or offered it too long ago); nothing was recorded")
        fix = (offered.before, offered.after)
        recorded = self.learning.record_feedback(
            offered.root, offered.relative, offered.finding, kind, snippet=offered.snippet, fix=fix
        )
        undo_token = secrets.token_hex(12)
        with self._lock:
            self._offered.pop(token, None)
            self._undoable[undo_token] = _Undoable(offered, recorded)
            while len(self._undoable) > _OFFERED_LIMIT:
                self._undoable.popitem(last=False)
            if kind == ACCEPT:
                self._applied.append(_Applied(offered))
                del self._applied[:-_WATCHED_LIMIT]
        return recorded, undo_token

    def undo(self, token: str) -> SubjectVerdict:
        """Take back recorded feedback (once); raises ValueError for a token we never handed out."""
        with self._lock:
            undoable = self._undoable.pop(token, None)
        if undoable is None:
            raise ValueError("there is no such feedback to undo (it was undone already, or never recorded)")
        offered = undoable.offered
        return self.learning.retract(offered.root, undoable.recorded, offered.relative)

    async def tell_user(self, recorded: RecordedFeedback, undo_token: str) -> None:
        """Say what a rejection did and what the next will do, with Undo and Show learned: the user
        asked for this change, so it is shown unless notifications are off altogether."""
        message = feedback_message(recorded, self.learning.settings.threshold)
        if message is None or self.server.settings.show_notifications == "off":
            return
        actions = [types.MessageActionItem(title=UNDO_ACTION), types.MessageActionItem(title=SHOW_LEARNED_ACTION)]
        params = types.ShowMessageRequestParams(type=types.MessageType.Info, message=f"aqe: {message}", actions=actions)
        try:
            choice = await self.server.window_show_message_request_async(params)
        except Exception as error:  # a client that cannot ask: the message is in the log
            log.info("%s (the editor did not show it: %s)", message, error)
            return
        if choice is None:
            return
        if choice.title == UNDO_ACTION:
            verdict = await asyncio.get_running_loop().run_in_executor(None, self.undo, undo_token)
            DiagnosticsFeature.of(self.server).settings_changed()
            state = "shown again" if verdict.shown else "still hidden"
            self.server.window_show_message(
                types.ShowMessageParams(
                    type=types.MessageType.Info, message=f"aqe: undone; {verdict.subject} is {state}."
                )
            )
        elif choice.title == SHOW_LEARNED_ACTION:
            await self.open_learned()

    def write_learned(self) -> Path:
        """The learned state as Markdown in the first folder's aqe folder (beside the feedback log)."""
        roots = self.server.workspace_roots
        if not roots:
            raise ValueError("no workspace folder is open")
        target = roots[0] / self.server.settings.index_dir / LEARNED_DOCUMENT
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, learned_markdown(self.learning.learned()).encode("utf-8"))
        return target

    async def open_learned(self) -> dict[str, Any]:
        """Write what was learned as Markdown and ask the editor to show it (window/showDocument)."""
        path = await asyncio.get_running_loop().run_in_executor(None, self.write_learned)
        shown = False
        if get_capability(self.server.client_capabilities, "window.show_document.support", False):
            result = await self.server.window_show_document_async(
                types.ShowDocumentParams(uri=path.as_uri(), take_focus=True)
            )
            shown = bool(result and result.success)
        return {"path": str(path), "uri": path.as_uri(), "shown": shown}

    def document_changed(self, uri: str) -> None:
        """An accepted fix whose old code is back was undone; one whose new code changed was edited."""
        watched = [a for a in self._applied if not a.reported and a.offered.uri == uri]
        if not watched:
            return
        document = self.server.engine.get_document(uri)
        if document is None:
            return
        for applied in watched:
            offered = applied.offered
            kind = None
            if offered.before.strip() and offered.before in document.text and offered.after not in document.text:
                kind = UNDO
            elif offered.after.strip() and offered.after not in document.text:
                kind = EDIT
            if kind is None:
                continue
            applied.reported = True
            details = {"source": offered.finding.source.value, "path": offered.relative,
                       "area": area_of(offered.relative)}  # fmt: skip
            event = FeedbackEvent(kind, offered.finding.rule_id, details)
            self.server.run_task(self._record_later(offered.root, event), f"record {kind}")

    async def _record_later(self, root: Path, event: FeedbackEvent) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.learning.record_event, root, event)
        DiagnosticsFeature.of(self.server).settings_changed()

    # --- commands -----------------------------------------------------------------------------------

    def folder_for(self, arguments: dict[str, Any]) -> Path:
        roots = self.server.workspace_roots
        if not roots:
            raise ValueError("no workspace folder is open")
        wanted = arguments.get("root")
        if wanted is None:
            return roots[0]
        for root in roots:
            if str(root) == str(wanted) or root.as_uri() == wanted:
                return root
        raise ValueError(f"{wanted!r} is not a workspace folder")

    def export_to(self, arguments: dict[str, Any]) -> dict[str, Any]:
        target = _path_argument(arguments, EXPORT_STATE_COMMAND)
        try:
            return self.learning.export_to(self.folder_for(arguments), target,
                                           examples=bool(arguments.get("examples", True)))  # fmt: skip
        except StateFileError as error:
            raise ValueError(str(error)) from error

    def import_from(self, arguments: dict[str, Any]) -> dict[str, Any]:
        source = _path_argument(arguments, IMPORT_STATE_COMMAND)
        try:
            outcome = self.learning.import_from(self.folder_for(arguments), source)
        except StateFileError as error:
            raise ValueError(str(error)) from error
        return {"path": str(outcome.path), "origins": list(outcome.origins), "subjects": outcome.subjects}

    def reset(self, arguments: dict[str, Any]) -> dict[str, Any]:
        subject = arguments.get("subject")
        if not isinstance(subject, str) or not subject.strip():
            raise ValueError(f'{RESET_LEARNED_COMMAND} expects [{{"subject": "QE205"}}]')
        return {"reset": self.learning.reset(subject)}


def _path_argument(arguments: dict[str, Any], command: str) -> Path:
    value = arguments.get("path")
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f'{command} expects [{{"path": "/absolute/path/state.json"}}]')
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise ValueError(f"{command}: the path must be absolute, not {value!r}")
    return path


def _object_argument(arguments: tuple[Any, ...], command: str, *, required: bool = True) -> dict[str, Any]:
    if not arguments:
        if required:
            raise ValueError(f"{command} expects one object argument")
        return {}
    first = arguments[0]
    if not isinstance(first, dict):
        raise ValueError(f"{command} expects one object argument, not {type(first).__name__}")
    return first


def _before_and_after(text: str, finding: Finding, edits: tuple[TextEdit, ...]) -> tuple[str, str]:
    """The lines a fix touches, before and after it (the example a later review prompt shows)."""
    source = SourceText(text)
    first = min([finding.span.start.line, *(edit.span.start.line for edit in edits)])
    last = max([finding.span.start.line, *(edit.span.end.line for edit in edits)])
    data = source.data
    for edit in sorted(edits, key=lambda e: e.span.start, reverse=True):
        start, end = source.byte_at_position(edit.span.start), source.byte_at_position(edit.span.end)
        data = data[:start] + edit.new_text.encode("utf-8") + data[end:]
    after_text = data.decode("utf-8", errors="replace")
    old_lines, new_lines = text.splitlines(), after_text.splitlines()
    growth = len(new_lines) - len(old_lines)
    before = "\n".join(old_lines[first : last + 1])
    after = "\n".join(new_lines[first : max(first, last + 1 + growth)])
    return before, after


def register(server: AqeLanguageServer) -> None:
    feature = LearningFeature.of(server)
    server.code_action_providers.append(feature.code_actions)
    server.listen("changed", feature.document_changed)
    server.listen("saved", feature.document_changed)
    server.listen("closed", server.learning.stop_watching)
    server.listen("initialized", feature.scan_conventions)

    def settings_changed() -> None:
        server.learning.recompute_all()  # threshold, prior strength or index folder may have changed
        server.run_task(feature.scan_conventions(), "mining conventions")

    server.listen("settings", settings_changed)

    async def in_thread(work: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, work, *args)

    @server.command(RECORD_FEEDBACK_COMMAND)
    async def record_feedback(ls: AqeLanguageServer, *arguments: Any) -> dict[str, Any]:
        argument = _object_argument(arguments, RECORD_FEEDBACK_COMMAND)
        token, kind = argument.get("token"), argument.get("kind")
        if not isinstance(token, str) or not isinstance(kind, str):
            raise ValueError(f'{RECORD_FEEDBACK_COMMAND} expects [{{"token": "...", "kind": "reject"}}]')
        recorded, undo_token = await in_thread(feature.record, token, kind)
        DiagnosticsFeature.of(ls).settings_changed()
        ls.run_task(feature.tell_user(recorded, undo_token), "feedback notice")
        after = recorded.after
        return {"recorded": kind, "subject": after.subject, "shown": after.shown, "undo": {"token": undo_token}}

    @server.command(UNDO_FEEDBACK_COMMAND)
    async def undo_feedback(ls: AqeLanguageServer, *arguments: Any) -> dict[str, Any]:
        token = _object_argument(arguments, UNDO_FEEDBACK_COMMAND).get("token")
        if not isinstance(token, str):
            raise ValueError(f'{UNDO_FEEDBACK_COMMAND} expects [{{"token": "..."}}] (from aqe.recordFeedback)')
        verdict = await in_thread(feature.undo, token)
        DiagnosticsFeature.of(ls).settings_changed()
        return {"undone": True, "subject": verdict.subject, "shown": verdict.shown}

    @server.command(OPEN_LEARNED_COMMAND)
    async def open_learned(ls: AqeLanguageServer, *arguments: Any) -> dict[str, Any]:
        return await feature.open_learned()

    @server.command(SHOW_LEARNED_COMMAND)
    async def show_learned(ls: AqeLanguageServer, *arguments: Any) -> dict[str, Any]:
        learned = await in_thread(ls.learning.learned)
        return {**learned, "markdown": learned_markdown(learned)}

    @server.command(EXPORT_STATE_COMMAND)
    async def export_state(ls: AqeLanguageServer, *arguments: Any) -> dict[str, Any]:
        return await in_thread(feature.export_to, _object_argument(arguments, EXPORT_STATE_COMMAND))

    @server.command(IMPORT_STATE_COMMAND)
    async def import_state(ls: AqeLanguageServer, *arguments: Any) -> dict[str, Any]:
        answer = await in_thread(feature.import_from, _object_argument(arguments, IMPORT_STATE_COMMAND))
        DiagnosticsFeature.of(ls).settings_changed()
        return answer

    @server.command(RESET_LEARNED_COMMAND)
    async def reset_learned(ls: AqeLanguageServer, *arguments: Any) -> dict[str, Any]:
        answer = await in_thread(feature.reset, _object_argument(arguments, RESET_LEARNED_COMMAND))
        DiagnosticsFeature.of(ls).settings_changed()
        return answer

    @server.command(FORCE_LEARN_COMMAND)
    async def force_learn(ls: AqeLanguageServer, *arguments: Any) -> dict[str, Any]:
        """Recompute everything from the log and the imported state (after editing or copying them)."""
        await in_thread(ls.learning.recompute_all)
        DiagnosticsFeature.of(ls).settings_changed()
        return await in_thread(ls.learning.learned)
