"""The settings declarations, first part (review, editor, privacy, models, index): one field per
setting, its default and its metadata. Split from aqe.config.declarations only to keep modules short."""

from __future__ import annotations

from dataclasses import dataclass, field

from aqe.config.fields import (
    _CLOUD,
    _EDITOR,
    _INDEX,
    _LOCAL_MODEL,
    _PRIVACY,
    _REVIEW,
    CloudProvider,
    ComplexityCountingName,
    EmbedderName,
    EmbeddingDim,
    LogLevel,
    PrivacyMode,
    RuleSeverity,
    Scope,
    ShowNotifications,
    _meta,
)


@dataclass(frozen=True)
class CoreSettings:
    """The first settings groups; `Settings` adds the rest."""

    rules: dict[str, RuleSeverity] = field(
        default_factory=dict,
        hash=False,
        metadata=_meta(
            "Severity per rule, keyed by rule id (QE101) or name (test-without-assertion); "
            "`off` disables the rule. Merged key by key across sources.",
            _REVIEW,
            implemented=True,
        ),
    )
    max_complexity: int = field(
        default=10,
        metadata=_meta(
            "Cyclomatic complexity above which a function is reported.",
            _REVIEW,
            implemented=True,
            minimum=2,
            maximum=200,
        ),
    )
    complexity_counting: ComplexityCountingName = field(
        default="mccabe",
        metadata=_meta(
            "How QE203 counts complexity: `mccabe` as ruff's C901 and flake8 do, or `extended`, which "
            "also counts boolean operators, conditional expressions and comprehension clauses (radon).",
            _REVIEW,
            implemented=True,
        ),
    )
    max_file_size_mb: float = field(
        default=2.0,
        metadata=_meta(
            "Files larger than this many megabytes are skipped, with a notice, instead of analysed.",
            _REVIEW,
            implemented=True,
            minimum=0,
            exclusive_minimum=True,
            maximum=1024,
        ),
    )
    exclude: tuple[str, ...] = field(
        default=(),
        metadata=_meta(
            "Gitignore-style patterns of files never analysed, relative to the workspace root.",
            _REVIEW,
            implemented=True,
        ),
    )
    diagnostics_debounce_ms: int = field(
        default=300,
        metadata=_meta(
            "Quiet time after the last edit before a document is analysed again.",
            _EDITOR,
            implemented=True,
            minimum=0,
            maximum=10_000,
        ),
    )
    show_notifications: ShowNotifications = field(
        default="onError",
        metadata=_meta(
            "Which server problems pop up as notifications; everything is logged regardless.",
            _EDITOR,
            implemented=True,
        ),
    )
    log_level: LogLevel = field(
        default="info",
        metadata=_meta(
            "Least severe log record forwarded to the client's output panel.",
            _EDITOR,
            implemented=True,
        ),
    )
    code_lens: bool = field(
        default=True, metadata=_meta("Show code lenses (run test, coverage, flakiness) above units.", _EDITOR)
    )
    metrics_port: int = field(
        default=0,
        metadata=_meta(
            "TCP port of a Prometheus metrics endpoint (requests, latencies, model queue, coalesced model "
            "calls) for a long-running `aqe serve --tcp`; 0 serves none. Read when the server starts.",
            _EDITOR,
            scope=Scope.USER,
            minimum=0,
            maximum=65_535,
            implemented=True,
        ),
    )
    metrics_host: str = field(
        default="127.0.0.1",
        metadata=_meta(
            "Address the metrics endpoint listens on (0.0.0.0 in a container whose port is published).",
            _EDITOR,
            scope=Scope.USER,
            min_length=1,
            implemented=True,
        ),
    )
    privacy_mode: PrivacyMode = field(
        default="strict",
        metadata=_meta(
            "`strict`: nothing leaves the machine; `balanced`: snippets may go to the cloud model when the "
            "local one is unsure; `off`: no restriction. A workspace may make this stricter, never looser.",
            _PRIVACY,
            scope=Scope.USER,
            implemented=True,
        ),
    )
    model_path: str | None = field(
        default=None,
        metadata=_meta(
            "GGUF model file for local inference; null uses the bundled default model.",
            _LOCAL_MODEL,
            scope=Scope.USER,
            min_length=1,
            implemented=True,
        ),
    )
    model_threads: int = field(
        default=0,
        metadata=_meta(
            "CPU threads for local inference; 0 chooses automatically.",
            _LOCAL_MODEL,
            minimum=0,
            maximum=512,
            implemented=True,
        ),
    )
    context_size: int = field(
        default=4096,
        metadata=_meta(
            "Context window of the local model, in tokens.",
            _LOCAL_MODEL,
            minimum=512,
            maximum=131_072,
            implemented=True,
        ),
    )
    warm_pool_size: int = field(
        default=1,
        metadata=_meta(
            "Model instances kept loaded and ready; 0 loads on first use.",
            _LOCAL_MODEL,
            minimum=0,
            maximum=8,
            implemented=True,
        ),
    )
    batch_size: int = field(
        default=4,
        metadata=_meta(
            "Requests one local model worker decodes together in one llama.cpp batch (its slots).",
            _LOCAL_MODEL,
            minimum=1,
            maximum=64,
            implemented=True,
        ),
    )
    batch_interval_ms: int = field(
        default=50,
        metadata=_meta(
            "How long a background request may wait so that identical requests coalesce into it; "
            "interactive requests never wait.",
            _LOCAL_MODEL,
            minimum=0,
            maximum=5000,
            implemented=True,
        ),
    )
    local_server_url: str | None = field(
        default=None,
        metadata=_meta(
            "A team inference server with an OpenAI-compatible API (llama.cpp server, vLLM, Ollama) to use "
            "instead of the in-process model; counts as local only on a loopback address.",
            _LOCAL_MODEL,
            implemented=True,
            scope=Scope.USER,
            min_length=1,
        ),
    )
    local_server_model: str = field(
        default="", metadata=_meta("Model name to ask the team server for.", _LOCAL_MODEL, implemented=True)
    )
    local_server_chat: bool = field(
        default=True,
        metadata=_meta(
            "The team server runs an instruct (chat) model; false for a base model (plain completions).",
            _LOCAL_MODEL,
            implemented=True,
        ),
    )
    cloud_provider: CloudProvider = field(
        default="anthropic", metadata=_meta("Cloud model provider.", _CLOUD, implemented=True)
    )
    cloud_model: str = field(
        default="claude-sonnet-4-5", metadata=_meta("Cloud model name.", _CLOUD, min_length=1, implemented=True)
    )
    cloud_base_url: str | None = field(
        default=None,
        metadata=_meta(
            "Alternative API endpoint (a proxy or gateway); null uses the provider's own.",
            _CLOUD,
            scope=Scope.USER,
            min_length=1,
            implemented=True,
        ),
    )
    fallback_threshold: float = field(
        default=0.5,
        metadata=_meta(
            "Local-model confidence below which the cloud model is asked (when privacyMode allows).",
            _CLOUD,
            minimum=0,
            maximum=1,
            implemented=True,
        ),
    )
    index_enabled: bool = field(
        default=True,
        metadata=_meta(
            "Index the workspace (code units and the QE knowledge base) for retrieval: related tests, "
            "search, context for test generation and review.",
            _INDEX,
            implemented=True,
        ),
    )
    embedder: EmbedderName = field(
        default="hashing",
        metadata=_meta(
            "How code is turned into vectors: `hashing` (code-aware feature hashing: no model, very fast; "
            "chosen by the retrieval evaluation in docs/benchmarks.md) or `model` (pooled embeddings of a "
            "local GGUF model, see embeddingModelPath).",
            _INDEX,
            implemented=True,
        ),
    )
    embedding_model_path: str | None = field(
        default=None,
        metadata=_meta(
            "GGUF model for `embedder = model` (an embedding model such as a nomic-embed or bge GGUF); "
            "null uses the embedded default model's pooled embeddings.",
            _INDEX,
            scope=Scope.USER,
            min_length=1,
            implemented=True,
        ),
    )
    embedding_dim: EmbeddingDim = field(
        default=768,
        metadata=_meta(
            "Dimension of the hashing embedder's vectors (a model embedder has its model's own).",
            _INDEX,
            implemented=True,
        ),
    )
    hnsw_m: int = field(
        default=16,
        metadata=_meta(
            "HNSW graph degree: higher is more accurate and larger.", _INDEX, minimum=2, maximum=128, implemented=True
        ),
    )
    # efConstruction 100 builds the graph in about half the time of 200, and ef 300 at query time buys the
    # recall back: recall@10 0.960 (0.956 filtered to tests) against 0.976 on 71,246 standard-library units
    # (tests/bench/bench_index.py --only search --units 74000 --hnsw 16:200:200 16:100:300).
    hnsw_ef_construction: int = field(
        default=100,
        metadata=_meta(
            "HNSW candidate list size while building the index.", _INDEX, minimum=10, maximum=2000, implemented=True
        ),
    )
    hnsw_ef_search: int = field(
        default=300,
        metadata=_meta(
            "HNSW candidate list size while querying the index.", _INDEX, minimum=10, maximum=2000, implemented=True
        ),
    )
    index_dir: str = field(
        default=".aqe",
        metadata=_meta(
            "Where the index and learning state are stored, relative to the workspace root. A workspace "
            "may only choose a directory inside itself.",
            _INDEX,
            min_length=1,
            confined_to_workspace=True,
            implemented=True,
        ),
    )
    index_max_files: int = field(
        default=20_000,
        metadata=_meta(
            "Most files one workspace folder's index takes (a folder such as a home directory opened by "
            "mistake must not be read whole); the rest are left out with a warning.",
            _INDEX,
            minimum=1,
            maximum=1_000_000,
            implemented=True,
        ),
    )
    knowledge_paths: tuple[str, ...] = field(
        default=(".aqe/knowledge",),
        metadata=_meta(
            "Folders (relative to the workspace root) with the team's own QE knowledge: TOML files with "
            "[[entry]] tables or Markdown files with +++ TOML front matter (id, category, tags). They extend "
            "or replace the built-in test patterns, quality rules, failure patterns and best practices.",
            _INDEX,
            implemented=True,
        ),
    )
