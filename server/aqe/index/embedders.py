"""Embedders: text -> L2-normalised float32 vectors, behind one interface.

`HashingCodeEmbedder` is the default: no model, no download, deterministic across processes and
machines, and fast enough to embed a whole workspace while the user types. It reads code the way a
person skimming for "the test of this function" does: identifiers split into their words
(snake_case and camelCase), the names of called functions weighted up, keywords and test
boilerplate weighted down, words of string literals, and character trigrams so that `parse_url`
and `url_parser` still meet. Features are hashed into `dim` buckets with a sign bit (the hashing
trick), so the vector space needs no vocabulary and no fitting. scikit-learn's HashingVectorizer does
the hashing part but not code-aware tokens, and would pull a large dependency into the server.

`ModelEmbedder` uses a llama.cpp model's pooled embeddings through the provider layer (the default
model, or any GGUF embedding model the user names). Which of the two is the default was decided by
the retrieval evaluation in tests/bench/bench_retrieval.py (see docs/benchmarks.md).
"""

from __future__ import annotations

import re
import threading
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from aqe.llm.types import Provider

HASHING_EMBEDDER = "hashing"
MODEL_EMBEDDER = "model"


class Embedder(Protocol):
    @property
    def identity(self) -> EmbedderIdentity:
        """What produced the vectors: an index built by another embedder must not be searched."""
        ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """A (len(texts), dim) float32 array of unit-length rows (all-zero rows for empty texts)."""
        ...


@dataclass(frozen=True)
class EmbedderIdentity:
    name: str
    dim: int
    version: str
    """Changes whenever the same text would embed differently (tokeniser, weights, model file)."""

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "dim": self.dim, "version": self.version}


# --- the hashing embedder -----------------------------------------------------------------------------

# One pass over the text: string literals (whose words count, but not as code), then identifiers,
# with a following "(" marking a call (or a definition: `def name(` reads the same, which is wanted).
_TOKENS = re.compile(
    r"""(?P<string>"(?:[^"\\\n]|\\.){0,200}"|'(?:[^'\\\n]|\\.){0,200}')"""
    r"""|(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<call>[ \t]*\()?"""
)
_WORDS = re.compile(r"[A-Za-z][a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_SUBTOKENS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

_KEYWORDS = frozenset(
    {
        "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else",
        "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or",
        "pass", "raise", "return", "try", "while", "with", "yield", "match", "case", "none", "true", "false",
        "const", "let", "var", "function", "new", "this", "typeof", "instanceof", "void", "delete", "switch",
        "default", "catch", "throw", "extends", "export", "static", "get", "set", "of", "null", "undefined", "super"
    }
)  # fmt: skip
# Words that nearly every test or function has: they say nothing about WHICH code a unit is about.
_BOILERPLATE = frozenset(
    {
        "self", "cls", "test", "tests", "assert", "assert_equal", "assert_equals", "assertequal", "assert_true",
        "asserttrue", "assertfalse", "assertraises", "assertin", "assertis", "assertisnone", "assertalmostequal",
        "assertcountequal", "expect", "to", "be", "tobe", "toequal", "it", "describe", "args", "kwargs", "result",
        "results", "value", "values", "expected", "actual", "data", "obj", "item", "items", "x", "y", "i", "j", "k",
        "n", "s", "t", "e", "f", "a", "b", "v", "len", "list", "dict", "set", "tuple", "str", "int", "float",
        "bool", "range", "print", "isinstance", "type", "object", "pytest", "mark", "raises", "fixture", "param",
        "parametrize", "unittest", "testcase", "mock", "patch", "setup", "teardown"
    }
)  # fmt: skip

# English function words: knowledge entries and failure messages are prose, and "the" must not make
# two texts alike.
_PROSE = frozenset(
    {
        "the", "an", "of", "to", "be", "are", "was", "were", "been", "has", "had", "have", "this", "that", "these",
        "those", "which", "who", "what", "when", "where", "why", "how", "by", "at", "on", "into", "than", "then",
        "so", "but", "its", "their", "there", "here", "can", "could", "would", "should", "will", "may", "might",
        "must", "do", "does", "did", "done", "also", "only", "very", "more", "most", "some", "any", "each", "every",
        "no", "yes", "one", "two", "about", "after", "before", "over", "under", "between", "through", "own", "same",
        "other", "such", "we", "you", "they", "he", "she", "our", "your", "his", "her", "them", "us", "me", "my",
    }
)  # fmt: skip

_WEIGHT_CALL = 2.0
_WEIGHT_NAME = 1.0
_WEIGHT_SUBTOKEN = 0.8
_WEIGHT_TRIGRAM = 0.15
_WEIGHT_STRING_WORD = 0.35
_WEIGHT_KEYWORD = 0.05
_WEIGHT_BOILERPLATE = 0.1
_MAX_TEXT_CHARS = 16_000
_MEMO_LIMIT = 200_000
_CHUNK = 256
"""Texts accumulated per numpy pass: large enough to amortise it, small enough to stay in cache."""

_HASHING_VERSION = "2"


class HashingCodeEmbedder:
    """Feature-hashed bag of code tokens; see the module docstring. Thread-safe.

    Each distinct token is analysed once and its hashed features appended to a flat table (columns,
    signed weights, and where each token's features start); a text then costs one regex pass and a
    dictionary look-up per distinct token, and numpy expands the table rows for a whole chunk of texts.
    """

    def __init__(self, dim: int = 768) -> None:
        if dim < 8:
            raise ValueError(f"embedding dimension must be at least 8, not {dim}")
        self._dim = dim
        self._identity = EmbedderIdentity(HASHING_EMBEDDER, dim, _HASHING_VERSION)
        self._lock = threading.Lock()
        self._reset_table()

    def _reset_table(self) -> None:
        self._token_ids: dict[tuple[str, str, str], int] = {}
        self._starts = array("q", [0])
        self._columns = array("q")
        self._weights = array("d")

    @property
    def identity(self) -> EmbedderIdentity:
        return self._identity

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        with self._lock:
            for start in range(0, len(texts), _CHUNK):
                self._embed_chunk(texts[start : start + _CHUNK], out[start : start + _CHUNK])
        return out

    def _embed_chunk(self, texts: Sequence[str], out: np.ndarray) -> None:
        if len(self._token_ids) > _MEMO_LIMIT:
            self._reset_table()  # bounded memory on huge code bases; ids only need to hold for a chunk
        token_ids: list[int] = []
        per_row: list[int] = []
        known = self._token_ids.get
        findall = _TOKENS.findall
        for text in texts:
            # Presence, not counts: a name used ten times is not ten times the topic of the unit.
            tokens = set(findall(text[:_MAX_TEXT_CHARS]))
            ids = [known(token, -1) for token in tokens]
            if -1 in ids:
                ids = [self._token_id(token) for token in tokens]
            token_ids += ids
            per_row.append(len(ids))
        ids_array = np.asarray(token_ids, dtype=np.int64)
        starts = np.frombuffer(self._starts, dtype=np.int64)
        first, counts = starts[ids_array], starts[ids_array + 1] - starts[ids_array]
        # Positions in the feature table of every feature of every token, in order.
        ends = np.cumsum(counts)
        positions = np.arange(int(ends[-1]) if len(ends) else 0) + np.repeat(first - (ends - counts), counts)
        columns = np.frombuffer(self._columns, dtype=np.int64)[positions]
        weights = np.frombuffer(self._weights, dtype=np.float64)[positions]
        rows = np.repeat(np.repeat(np.arange(len(texts), dtype=np.int64), per_row), counts)
        sums = np.bincount(rows * self._dim + columns, weights=weights, minlength=len(texts) * self._dim)
        sums = sums.astype(np.float64, copy=False).reshape(len(texts), self._dim)  # int64 when no weights
        # einsum + sqrt is several times faster than np.linalg.norm(axis=1) on these shapes.
        norms = np.einsum("ij,ij->i", sums, sums)
        np.sqrt(norms, out=norms)
        norms[norms == 0] = 1.0  # an empty text stays a zero row: it matches nothing rather than everything
        np.divide(sums, norms[:, None], out=out, casting="unsafe")

    def _token_id(self, token: tuple[str, str, str]) -> int:
        known = self._token_ids.get(token)
        if known is not None:
            return known
        for feature, weight in _token_features(token):
            hashed = zlib.crc32(feature.encode("utf-8"))
            self._columns.append(hashed % self._dim)
            self._weights.append(weight if hashed & 0x80000000 else -weight)
        self._starts.append(len(self._columns))
        self._token_ids[token] = number = len(self._token_ids)
        return number


def _token_features(token: tuple[str, str, str]) -> list[tuple[str, float]]:
    """The weighted features of one token as `_TOKENS.findall` returns it: (string, name, call)."""
    string, name, call = token
    if string:
        return [
            ("w:" + word.lower(), _WEIGHT_BOILERPLATE if word.lower() in _PROSE else _WEIGHT_STRING_WORD)
            for word in _WORDS.findall(string)
        ]
    lowered = name.lower()
    if lowered in _KEYWORDS:
        return [("k:" + lowered, _WEIGHT_KEYWORD)]
    if lowered in _BOILERPLATE or lowered in _PROSE:
        return [("i:" + lowered, _WEIGHT_BOILERPLATE)]
    features = [("i:" + lowered, _WEIGHT_CALL if call else _WEIGHT_NAME)]
    subtokens = [part.lower() for part in _SUBTOKENS.findall(name)]
    if len(subtokens) > 1:
        features += [("i:" + part, _WEIGHT_SUBTOKEN) for part in subtokens if part not in _BOILERPLATE]
    for part in subtokens:
        padded = f"<{part}>"
        features += [("g:" + padded[i : i + 3], _WEIGHT_TRIGRAM) for i in range(len(padded) - 2)]
    return features


def normalise(matrix: np.ndarray) -> np.ndarray:
    """Unit-length rows; zero rows stay zero (an empty text matches nothing rather than everything)."""
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))[:, None]
    np.divide(matrix, norms, out=matrix, where=norms > 0)
    return matrix


# --- embeddings from a llama.cpp model ----------------------------------------------------------------


class ModelEmbedder:
    """Pooled embeddings of a local model through the provider layer (`Provider.embed`).

    The dimension is the model's own (640 for the default Gemma 3 270M); `embeddingDim` applies to
    the hashing embedder only. Texts are sent in small batches so a long scan can be interrupted.
    """

    def __init__(self, provider: Provider, model_id: str, *, batch_size: int = 16) -> None:
        self._provider = provider
        self._model_id = model_id
        self._batch_size = batch_size
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = len(self._provider.embed(["dimension probe"])[0])
        return self._dim

    @property
    def identity(self) -> EmbedderIdentity:
        return EmbedderIdentity(MODEL_EMBEDDER, self.dim, self._model_id)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            batch = [text[:_MAX_TEXT_CHARS] or " " for text in texts[start : start + self._batch_size]]
            vectors += self._provider.embed(batch)
        matrix = np.asarray(vectors, dtype=np.float32)
        self._dim = matrix.shape[1]
        return normalise(matrix)

    def close(self) -> None:
        self._provider.close()
