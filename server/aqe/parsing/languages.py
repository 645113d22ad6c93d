"""The languages aqe parses, and a tree-sitter parser for each (one per thread: parsers are not
thread-safe, languages are)."""

from __future__ import annotations

import enum
import threading
from functools import cache
from pathlib import PurePath

from tree_sitter import Language as TSLanguage
from tree_sitter import Parser


class Language(str, enum.Enum):
    PYTHON = "python"
    JAVASCRIPT = "javascript"
    TYPESCRIPT = "typescript"
    TSX = "typescriptreact"

    @property
    def is_js_family(self) -> bool:
        return self is not Language.PYTHON


_SUFFIXES: dict[str, Language] = {
    ".py": Language.PYTHON,
    ".pyi": Language.PYTHON,
    ".js": Language.JAVASCRIPT,
    ".mjs": Language.JAVASCRIPT,
    ".cjs": Language.JAVASCRIPT,
    ".jsx": Language.JAVASCRIPT,
    ".ts": Language.TYPESCRIPT,
    ".mts": Language.TYPESCRIPT,
    ".cts": Language.TYPESCRIPT,
    ".tsx": Language.TSX,
}

# LSP languageId values that clients send, mapped to our grammars.
_LANGUAGE_IDS: dict[str, Language] = {
    "python": Language.PYTHON,
    "javascript": Language.JAVASCRIPT,
    "javascriptreact": Language.JAVASCRIPT,
    "typescript": Language.TYPESCRIPT,
    "typescriptreact": Language.TSX,
}


def language_for_path(path: str | PurePath) -> Language | None:
    return _SUFFIXES.get(PurePath(path).suffix.lower())


def language_for_id(language_id: str | None, path: str | PurePath | None = None) -> Language | None:
    """The client's languageId wins; the file suffix decides when the id is unknown or missing."""
    if language_id and language_id.lower() in _LANGUAGE_IDS:
        return _LANGUAGE_IDS[language_id.lower()]
    return language_for_path(path) if path is not None else None


def supported_suffixes() -> frozenset[str]:
    return frozenset(_SUFFIXES)


@cache
def ts_language(language: Language) -> TSLanguage:
    if language is Language.PYTHON:
        import tree_sitter_python

        return TSLanguage(tree_sitter_python.language())
    if language is Language.JAVASCRIPT:
        import tree_sitter_javascript

        return TSLanguage(tree_sitter_javascript.language())
    import tree_sitter_typescript

    if language is Language.TSX:
        return TSLanguage(tree_sitter_typescript.language_tsx())
    return TSLanguage(tree_sitter_typescript.language_typescript())


_local = threading.local()


def parser_for(language: Language) -> Parser:
    parsers: dict[Language, Parser] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    parser = parsers.get(language)
    if parser is None:
        parser = parsers[language] = Parser(ts_language(language))
    return parser
