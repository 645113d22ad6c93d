"""Choosing the history backend from the settings, and keeping a database password out of every message.

`flakyHistoryUrl` is a user-only setting (it can carry credentials, so a repository's pyproject.toml
may not set it): unset, the history is the workspace's SQLite file; `postgresql://user:password@host:
port/db` (or `postgres://`) points every CI job and editor of a team at one PostgreSQL database.
Anything that prints the URL prints `redact_url(url)`, and error text from the driver goes through
`redact_text`, which also hides the password wherever the text happens to repeat it.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from aqe.flaky.history import HistoryError, HistoryStore, SqliteHistory

POSTGRES_SCHEMES = ("postgresql", "postgres")
HIDDEN = "***"
_SECRET_PARAMETERS = frozenset({"password", "sslpassword"})
_URL_CREDENTIALS = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<secret>[^@\s]*)(?P<tail>@)", re.I)
_KEYWORD_SECRET = re.compile(r"(?P<head>\b(?:password|sslpassword)\s*=\s*)(?P<secret>'[^']*'|\S+)", re.I)


def redact_url(url: str) -> str:
    """The URL with its password (in the authority or as a query parameter) replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        credentials, _, host = netloc.rpartition("@")
        user, has_password, _ = credentials.partition(":")
        netloc = f"{user}:{HIDDEN}@{host}" if has_password else f"{user}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, HIDDEN if k.lower() in _SECRET_PARAMETERS else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_secrets(url: str) -> list[str]:
    """The password as written in the URL and decoded, longest first (to hide both in any text)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = []
    if parts.password:
        found.append(parts.password)
    found += [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() in _SECRET_PARAMETERS]
    spellings = {spelling for secret in found if secret for spelling in (secret, unquote(secret), quote(secret))}
    return sorted(spellings, key=len, reverse=True)


def redact_text(text: str, url: str | None = None) -> str:
    """Text (an error from the driver, a log line) with the URL's password and any URL or keyword
    credentials in it hidden."""
    for secret in url_secrets(url) if url else []:
        text = text.replace(secret, HIDDEN)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['head']}{HIDDEN}{m['tail']}", text)
    return _KEYWORD_SECRET.sub(lambda m: f"{m['head']}{HIDDEN}", text)


def is_postgres_url(url: str) -> bool:
    try:
        return urlsplit(url).scheme.lower() in POSTGRES_SCHEMES and bool(urlsplit(url).netloc or urlsplit(url).path)
    except ValueError:  # an unbalanced [ in the host, ...
        return False


def open_history(root: Path, index_dir: str, url: str | None, *, patience_s: float = 30.0) -> HistoryStore:
    """The configured history: PostgreSQL when `url` is set, else the workspace's SQLite file.

    `patience_s` is how long a PostgreSQL history keeps retrying a server it lost (restarting, failing
    over) before it gives up with a HistoryError."""
    if not url:
        return SqliteHistory.for_workspace(root, index_dir)
    if not is_postgres_url(url):
        raise HistoryError(
            f"flakyHistoryUrl: expected a postgresql:// URL, got {redact_url(url)!r}; "
            "leave it unset for the workspace's own history file"
        )
    from aqe.flaky.postgres import PostgresHistory

    return PostgresHistory(url, patience_s=patience_s)
