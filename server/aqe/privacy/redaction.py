"""Secrets out, before anything leaves the machine.

Two detectors run over every line: detect-secrets' plugins (a maintained catalogue of token formats
and its keyword heuristics) and our own patterns for what it lacks or catches only partly:
Anthropic keys, current OpenAI key shapes, multi-line private key blocks, credentials inside
connection strings, Authorization headers, and `.env` / code assignments to secret-sounding names.
Each secret becomes `[REDACTED:<kind>]`; the findings say what kind was found on which line, never
the value, so they can go to the audit log.

Invisible Unicode (tag characters, bidi controls, zero-width spaces) is stripped first: it can
carry instructions a reviewer cannot see, and it can split a secret so no pattern matches it.

detect-secrets' high-entropy plugins are used too, but their hits are dropped when the string is
shaped like a digest or an identifier (hex of a hash length, `sha256:`/`sha512-` integrity values,
UUIDs): redacting every lock-file hash would wreck the context the cloud model needs, and a
secret that happens to look like a hash is still caught when it is assigned to a secret-sounding
name.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from aqe.llm.types import ChatMessage, Prompt

PLACEHOLDER = "[REDACTED:{kind}]"

_INVISIBLE = re.compile(
    "[\U000e0000-\U000e007f"  # tag characters: invisible ASCII twins
    "\u202a-\u202e\u2066-\u2069"  # bidi embeddings, overrides and isolates
    "\u200e\u200f\u061c"  # directional marks
    "\u200b\u200c\u2060\u2061-\u2064\ufeff"  # zero-width space/non-joiner, word joiner, invisible operators, BOM
    "]"
)
"""The zero-width joiner (U+200D) is kept: emoji sequences need it and it carries nothing alone."""


@dataclass(frozen=True)
class Redaction:
    """One secret that was replaced: what kind, where (1-based line, 0-based column), which detector."""

    kind: str
    line: int
    column: int
    detector: str


@dataclass(frozen=True)
class RedactionResult:
    text: str
    findings: tuple[Redaction, ...]
    invisible_removed: int = 0

    @property
    def counts_by_kind(self) -> dict[str, int]:
        return dict(Counter(finding.kind for finding in self.findings))


@dataclass(frozen=True)
class RedactedPrompt:
    prompt: Prompt
    findings: tuple[Redaction, ...]
    invisible_removed: int

    @property
    def counts_by_kind(self) -> dict[str, int]:
        return dict(Counter(finding.kind for finding in self.findings))


@dataclass(frozen=True)
class _Pattern:
    kind: str
    regex: re.Pattern[str]
    group: int | str = 0
    """Which group is the secret (the rest is context kept in the text)."""
    specific: bool = True
    """A token format (wins over a generic hit on the same span when both name a kind)."""
    plausible: Callable[[re.Match[str]], bool] | None = None
    """For context patterns: whether this match is a value rather than code that looks like one."""


_SECRET_NAME = (
    r"(?:[A-Za-z0-9_.-]*[_.-]|[A-Za-z0-9_.-]*(?-i:[a-z0-9])(?=(?-i:[A-Z])))?"
    r"(?:pass(?:word|wd|phrase)?|pwd|secret(?:[_-]?key(?:[_-]?base)?)?|token|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key|client[_-]?secret|credentials?|auth|signing[_-]?key|encryption[_-]?key|master[_-]?key"
    r"|session[_-]?key)"
)
"""A name that ENDS in a secret word (`DB_PASSWORD`, `apiKey`, `token`), not one that merely contains it
(`password_field`, `token_type`, `bypass`): the value of the latter is rarely a secret."""

_PATTERNS: tuple[_Pattern, ...] = (
    _Pattern(
        "private-key",
        re.compile(
            r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"
            r"(?:[\s\S]*?-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|(?:(?:\\n|\s)*[A-Za-z0-9+/=:\-,. ]{16,})*)"
        ),
    ),
    _Pattern("anthropic-api-key", re.compile(r"\bsk-ant-[A-Za-z0-9]{2,12}-[A-Za-z0-9_-]{20,}")),
    _Pattern("anthropic-api-key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{24,}")),
    _Pattern("openai-api-key", re.compile(r"\bsk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{20,}")),
    _Pattern("openai-api-key", re.compile(r"\bsk-(?!ant-)[A-Za-z0-9]{32,}\b")),
    _Pattern(
        "aws-access-key-id",
        re.compile(r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA)[A-Z0-9]{16}\b"),
    ),
    _Pattern(
        "aws-secret-access-key",
        re.compile(
            r"(?i:aws)[A-Za-z0-9_.-]{0,30}(?i:secret|sk)[A-Za-z0-9_.-]{0,30}['\"]?\s*(?:=|:|=>|:=)\s*['\"]?"
            r"(?P<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
        ),
        group="value",
    ),
    _Pattern("github-token", re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}\b")),
    _Pattern("github-token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}")),
    _Pattern("gitlab-token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    _Pattern("slack-token", re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{10,}")),
    _Pattern("slack-webhook", re.compile(r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]{20,}")),
    _Pattern("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])")),
    _Pattern("stripe-key", re.compile(r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}")),
    _Pattern("npm-token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    _Pattern("pypi-token", re.compile(r"\bpypi-AgE[A-Za-z0-9_-]{40,}")),
    _Pattern("sendgrid-key", re.compile(r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b")),
    _Pattern("huggingface-token", re.compile(r"\bhf_[A-Za-z0-9]{34,}\b")),
    _Pattern("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    _Pattern(
        "connection-password",
        re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/@'\"]+:(?P<value>[^\s@/'\"]+)@[^\s'\"]"),
        group="value",
    ),
    _Pattern(
        "authorization-header",
        re.compile(r"(?i:authorization)['\"]?\s*[:=]\s*['\"]?(?i:bearer|basic|token)\s+(?P<value>[A-Za-z0-9._~+/=-]{12,})"),
        group="value",
    ),
    _Pattern(
        "secret-assignment",
        re.compile(
            rf"(?P<name>\b{_SECRET_NAME})(?![A-Za-z0-9_])['\"]?(?:[ \t]*:[ \t]*[A-Za-z_][\w\[\]., |]*?)?"
            r"[ \t]*(?:=|:|=>|:=|\?\?=|\|\|=)[ \t]*"
            r"(?P<prefix>[rbuf]{0,2})(?P<quote>['\"`])(?P<value>[^'\"`\n]{1,200}?)(?P=quote)",
            re.IGNORECASE,
        ),
        group="value",
        specific=False,
        plausible=lambda match: _quoted_value_plausible(match),
    ),
    _Pattern(
        "secret-assignment",
        re.compile(
            rf"^\s*(?:export\s+|set\s+)?(?P<name>{_SECRET_NAME})=(?P<value>[^\s'\"`#(\[{{][^\s'\"`#]*)",
            re.IGNORECASE | re.MULTILINE,
        ),
        group="value",
        specific=False,
        plausible=lambda match: _environment_value_plausible(match),
    ),
    _Pattern(
        "secret-assignment",
        re.compile(
            rf"^\s*-?\s*(?P<name>{_SECRET_NAME}):[ \t]+(?P<value>[^\s'\"`#&*!|>{{\[][^\s#]*)[ \t]*$",
            re.IGNORECASE | re.MULTILINE,
        ),
        group="value",
        specific=False,
        plausible=lambda match: _yaml_value_plausible(match),
    ),
)

_PLACEHOLDER_VALUE = re.compile(
    r"""^(?:
        \$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\{\{.*\}\}|<[^>]*>|%\([a-z_]+\)s|%s|\{[a-z_]*\}
        |\*+|x{3,}|X{3,}|\.{3}|…|none|null|nil|undefined|true|false|
        (?:os\.environ|os\.getenv|process\.env|env\(|getenv\(|settings\.|config\.|secrets\.).*
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
_LOWERCASE_WORDS = re.compile(r"^[a-z]+(?:[-_ ][a-z]+)+$")
_TYPE_LIKE = re.compile(
    r"^(?:str|int|float|bool|bytes|object|dict|list|tuple|set|Any|None)$|^[A-Z][A-Za-z_.]*$|.*[\[\]]"
    r"|^(?:[a-z_][a-z0-9_]*\.)+[A-Z][A-Za-z0-9_]*$"
)
"""Python builtin types, CamelCase names without digits (`module.Name` too), generics: annotations."""
_CONSTANT_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
"""`ENV_API_KEY = "ANTHROPIC_API_KEY"`: the name of a variable that holds the secret, not the secret."""
_MIN_ASSIGNED_SECRET_LENGTH = 4
_FORMAT_PLACEHOLDER = re.compile(r"%[sdr]|%\([A-Za-z_]\w*\)[sdr]|\{\d*\}|\{[A-Za-z_]\w*\}")
"""`'%s:%s' % (user, password)`, `'{0}:{1}'.format(...)`: a template for a secret, not one."""
_WORDS_NOT_SECRETS = frozenset(
    {"password", "passwd", "secret", "token", "apikey", "api_key", "key", "credentials", "auth", "bearer", "basic"}
)

_DIGEST_HEX_LENGTHS = frozenset({32, 40, 56, 64, 96, 128})
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_DIGEST_NAME = r"(?:sha(?:1|224|256|384|512)|md5|blake2b?|sha3-\d+)[:=-]"
_DIGEST_PREFIX = re.compile(_DIGEST_NAME, re.IGNORECASE)
_DIGEST_PREFIX_BEFORE = re.compile(_DIGEST_NAME + r"\s*$", re.IGNORECASE)
_SECRET_NAME_WHOLE = re.compile(_SECRET_NAME, re.IGNORECASE)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)

_KIND_OF_DETECT_SECRETS_TYPE = {
    "AWS Access Key": "aws-access-key-id",
    "Basic Auth Credentials": "connection-password",
    "GitHub Token": "github-token",
    "GitLab Token": "gitlab-token",
    "JSON Web Token": "jwt",
    "NPM tokens": "npm-token",
    "OpenAI Token": "openai-api-key",
    "Private Key": "private-key",
    "PyPI Token": "pypi-token",
    "SendGrid API Key": "sendgrid-key",
    "Slack Token": "slack-token",
    "Stripe Access Key": "stripe-key",
    "Secret Keyword": "secret-assignment",
    "Base64 High Entropy String": "high-entropy-string",
    "Hex High Entropy String": "high-entropy-string",
}
_SKIPPED_DETECT_SECRETS_PLUGINS = frozenset({"IPPublicDetector"})
"""A public IP address is not a secret, and the code under review is full of them."""
_ENTROPY_PLUGINS = frozenset({"Base64HighEntropyString", "HexHighEntropyString"})
_IDENTIFIER_PART = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+|_+")
_ID_KEY_BEFORE = re.compile(r"""(?:\b|_)(?:id|ids|uuid|guid)["']?\s*[:=]\s*["']?$""", re.IGNORECASE)
_MIN_ENTROPY_SECRET_LENGTH = 20
"""Shorter random-looking strings are mostly identifiers and short hashes; secrets are longer."""
_VERIFICATION_FILTER = "detect_secrets.filters.common.is_ignored_due_to_verification_policies"

_DETECT_SECRETS_LOCK = threading.Lock()
"""detect-secrets keeps its settings in process globals: one caller at a time (RELIABILITY.md)."""


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    kind: str
    detector: str
    specific: bool


def strip_invisible(text: str) -> tuple[str, int]:
    """Text without invisible format characters, and how many were removed."""
    cleaned, count = _INVISIBLE.subn("", text)
    return cleaned, count


def redact(text: str) -> RedactionResult:
    """`text` with every secret found replaced by `[REDACTED:<kind>]` and invisible Unicode stripped."""
    cleaned, invisible = strip_invisible(text)
    spans = _merge([*_pattern_spans(cleaned), *_detect_secrets_spans(cleaned)])
    if not spans:
        return RedactionResult(cleaned, (), invisible)
    line_starts = _line_starts(cleaned)
    pieces: list[str] = []
    findings: list[Redaction] = []
    position = 0
    for span in spans:
        pieces.append(cleaned[position : span.start])
        pieces.append(PLACEHOLDER.format(kind=span.kind))
        line, column = _line_and_column(line_starts, span.start)
        findings.append(Redaction(span.kind, line, column, span.detector))
        position = span.end
    pieces.append(cleaned[position:])
    return RedactionResult("".join(pieces), tuple(findings), invisible)


def redact_prompt(prompt: Prompt, *, for_chat: bool) -> RedactedPrompt:
    """Both shapes of a prompt redacted; the findings count the shape that will be sent."""
    text_result = redact(prompt.text)
    if prompt.chat is None:
        redacted = replace(prompt, text=text_result.text)
        return RedactedPrompt(redacted, text_result.findings, text_result.invisible_removed)
    chat_results = [redact(message.content) for message in prompt.chat]
    chat = tuple(
        ChatMessage(message.role, result.text) for message, result in zip(prompt.chat, chat_results, strict=True)
    )
    redacted = Prompt(text=text_result.text, chat=chat)
    if not for_chat:
        return RedactedPrompt(redacted, text_result.findings, text_result.invisible_removed)
    findings = tuple(finding for result in chat_results for finding in result.findings)
    return RedactedPrompt(redacted, findings, sum(result.invisible_removed for result in chat_results))


def _pattern_spans(text: str) -> Iterator[_Span]:
    for pattern in _PATTERNS:
        for match in pattern.regex.finditer(text):
            start, end = match.span(pattern.group)
            if start == end:
                continue
            if pattern.plausible is not None and not pattern.plausible(match):
                continue
            yield _Span(start, end, pattern.kind, f"aqe:{pattern.kind}", pattern.specific)


def _plausible_assigned_secret(value: str) -> bool:
    """False for what code puts in secret-named variables that is not a secret: placeholders,
    references, the word itself, and lower-case identifiers such as "github-token"."""
    stripped = value.strip()
    if not stripped or _PLACEHOLDER_VALUE.match(stripped) or not any(char.isalnum() for char in stripped):
        return False
    if len(stripped) < _MIN_ASSIGNED_SECRET_LENGTH or not any(char.isalpha() for char in stripped):
        return False
    if _FORMAT_PLACEHOLDER.search(stripped):
        return False
    if _LOWERCASE_WORDS.match(stripped) or _CONSTANT_NAME.match(stripped):
        return False
    return stripped.lower().replace("-", "_") not in _WORDS_NOT_SECRETS


def _quoted_value_plausible(match: re.Match[str]) -> bool:
    value = match.group("value")
    if "f" in match.group("prefix").lower() and "{" in value:
        return False
    return _plausible_assigned_secret(value)


def _environment_value_plausible(match: re.Match[str]) -> bool:
    """`NAME=value` lines of .env files and shells; lower-case names are keyword arguments in code."""
    name, value = match.group("name"), match.group("value")
    if name != name.upper() or value.endswith((",", ";")) or "(" in value or ")" in value:
        return False
    return _plausible_assigned_secret(value)


def _yaml_value_plausible(match: re.Match[str]) -> bool:
    """`name: value` lines of YAML; in Python the same shape is a type annotation (`token: str`)."""
    value = match.group("value")
    if value.endswith(",") or _TYPE_LIKE.match(value):
        return False
    return _plausible_assigned_secret(value)


def _detect_secrets_spans(text: str) -> Iterator[_Span]:
    offset = 0
    plugins = _detect_secrets_plugins()
    with _DETECT_SECRETS_LOCK:
        _refuse_verification()
        for line in text.splitlines(keepends=True):
            body = line.rstrip("\r\n")
            if body.strip():
                yield from _scan_line(plugins, body, offset)
            offset += len(line)


def _scan_line(plugins: tuple[Any, ...], line: str, offset: int) -> Iterator[_Span]:
    for plugin in plugins:
        name = type(plugin).__name__
        if name in _ENTROPY_PLUGINS:
            secrets = plugin.analyze_line(filename="prompt.txt", line=line, line_number=0, enable_eager_search=True)
        else:
            secrets = plugin.analyze_line(filename="prompt.txt", line=line, line_number=0)
        for secret in secrets:
            value = secret.secret_value or ""
            if not value or _filtered_out(plugin, name, value, line):
                continue
            if name in _ENTROPY_PLUGINS:
                value = _assigned_part(value)
                if _filtered_out(plugin, name, value, line):
                    continue
            kind = _KIND_OF_DETECT_SECRETS_TYPE.get(secret.type, _slug(secret.type))
            for start in _occurrences(line, value):
                if name in _ENTROPY_PLUGINS and _digest_shaped(value, line, start):
                    continue
                yield _Span(offset + start, offset + start + len(value), kind, f"detect-secrets:{name}", False)


def _filtered_out(plugin: Any, name: str, value: str, line: str) -> bool:
    from detect_secrets.filters import heuristic

    if name == "KeywordDetector" and not (_plausible_assigned_secret(value) and _named_like_a_secret(value, line)):
        return True
    if name in _ENTROPY_PLUGINS and (
        len(value) < _MIN_ENTROPY_SECRET_LENGTH
        or plugin.calculate_shannon_entropy(value) <= plugin.entropy_limit
        or _random_looking_but_not_secret(value, line)
    ):
        return True
    return (
        heuristic.is_sequential_string(value)
        or heuristic.is_potential_uuid(value)
        or heuristic.is_likely_id_string(value, line, plugin)
        or heuristic.is_templated_secret(value)
        or heuristic.is_prefixed_with_dollar_sign(value)
        or (name == "KeywordDetector" and heuristic.is_indirect_reference(line))
        or heuristic.is_not_alphanumeric_string(value)
    )


def _assigned_part(value: str) -> str:
    """`NAME=value` found as one unquoted word: the value alone (trailing `=` is base64 padding)."""
    body = value.rstrip("=")
    return value[body.rindex("=") + 1 :] if "=" in body else value


def _random_looking_but_not_secret(value: str, line: str) -> bool:
    """High entropy, yet code: a long CamelCase or snake_case name, a URL path (a commit link), an id."""
    if _made_of_words(value):
        return True
    start = line.find(value)
    token_start = max(line.rfind(" ", 0, start), line.rfind("(", 0, start), line.rfind('"', 0, start)) + 1
    if "://" in line[token_start : start + len(value)] or line[start + len(value) : start + len(value) + 3] == "://":
        return True
    return bool(_ID_KEY_BEFORE.search(line[:start]))


def _made_of_words(value: str) -> bool:
    """CamelCase or snake_case words (`BetaManagedAgentsThreadLimitWorkflowRunError`): long, not random.
    Random strings break into one- and two-letter pieces (`AARS6ilI8ihN5KXS`), names do not."""
    parts = _IDENTIFIER_PART.findall(value)
    if sum(map(len, parts)) != len(value):
        return False
    letters = [part for part in parts if part[0].isalpha()]
    return bool(letters) and all(len(part) >= 3 for part in letters)


def _named_like_a_secret(value: str, line: str) -> bool:
    """detect-secrets' keyword hits for `secret_name = "..."` too: keep those whose name ends in the word."""
    before = line[: max(line.find(value), 0)]
    return any(_SECRET_NAME_WHOLE.fullmatch(word.strip(".-")) for word in _IDENTIFIER.findall(before))


def _digest_shaped(value: str, line: str, start: int) -> bool:
    """A hash or identifier, not a secret: hex of a digest length, an integrity value, a UUID."""
    if _UUID.match(value) or (_HEX.match(value) and len(value) in _DIGEST_HEX_LENGTHS):
        return True
    return bool(_DIGEST_PREFIX.match(value) or _DIGEST_PREFIX_BEFORE.search(line[max(0, start - 12) : start]))


def _occurrences(line: str, value: str) -> Iterator[int]:
    start = line.find(value)
    while start != -1:
        yield start
        start = line.find(value, start + len(value))


@cache
def _detect_secrets_plugins() -> tuple[Any, ...]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    plugins: list[Any] = []
    for plugin_class in get_mapping_from_secret_type_to_class().values():
        if plugin_class.__name__ in _SKIPPED_DETECT_SECRETS_PLUGINS:
            continue
        try:
            plugins.append(plugin_class())
        except TypeError:
            continue
    return tuple(plugins)


def _refuse_verification() -> None:
    """detect-secrets can verify a token by calling its issuer's API: that would send the secret out."""
    from detect_secrets.settings import get_settings

    get_settings().filters.pop(_VERIFICATION_FILTER, None)


def _merge(spans: Iterable[_Span]) -> list[_Span]:
    """One span per secret: a token format wins over generic hits on it, which often carry the
    variable name around the token (`NAME=token` scans as one high-entropy word)."""
    candidates = list(spans)
    specific = _union(span for span in candidates if span.specific)
    generic = _union(
        span for span in candidates if not span.specific and not any(_overlap(span, kept) for kept in specific)
    )
    return sorted([*specific, *generic], key=lambda span: span.start)


def _union(spans: Iterable[_Span]) -> list[_Span]:
    merged: list[_Span] = []
    for span in sorted(spans, key=lambda span: (span.start, -span.end)):
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = replace(last, end=max(last.end, span.end))
        else:
            merged.append(span)
    return merged


def _overlap(first: _Span, second: _Span) -> bool:
    return first.start < second.end and second.start < first.end


def _line_starts(text: str) -> list[int]:
    starts = [0]
    starts.extend(match.end() for match in re.finditer(r"\r\n|\r|\n", text))
    return starts


def _line_and_column(line_starts: list[int], position: int) -> tuple[int, int]:
    low, high = 0, len(line_starts) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if line_starts[middle] <= position:
            low = middle
        else:
            high = middle - 1
    return low + 1, position - line_starts[low]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
