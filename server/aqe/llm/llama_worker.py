"""The local model in a process of its own: a segfault, a hang or an out-of-memory in native code ends
this process, never the language server.

`python -m aqe.llm.llama_worker '<json config>'` loads one GGUF and then speaks JSON lines: requests on
stdin, events on stdout. The protocol keeps the real stdout to itself and points file descriptor 1 at
stderr, so nothing llama.cpp prints can corrupt it. Requests decode together: each occupies one
sequence ("slot") of a single llama.cpp context, and every step decodes one token of every generating
slot (plus prompt chunks of slots still reading their prompt) in one `llama_decode`, the way the
llama.cpp server does continuous batching. A slot keeps the tokens it last evaluated, so a request
that shares a prefix with an earlier one only evaluates the rest (prefix caching).

Requests (parent -> worker):
    {"op": "complete", "id", "prompt": str, "messages": [{"role", "content"}] | null,
     "options": {max_tokens, stop, temperature, seed, grammar, json_schema}, "stream": bool}
    {"op": "cancel", "id"}   {"op": "embed", "id", "texts": [str]}   {"op": "shutdown"}
Events (worker -> parent):
    {"event": "loading", "percent"}  {"event": "ready", "info"}  {"event": "fatal", "error"}
    {"event": "progress"}  (a heartbeat while busy; the parent's watchdog counts on it)
    {"event": "text", "id", "text"}  {"event": "done", "id", ...}  {"event": "cancelled", "id"}
    {"event": "error", "id", "kind", "error"}  {"event": "embeddings", "id", "vectors"}
"""

from __future__ import annotations

import codecs
import collections
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

EXIT_LOAD_FAILED = 3
HEARTBEAT_S = 0.5
PREFILL_CHUNK = 256
"""Prompt tokens evaluated per decode: bounds how long cancellation and the watchdog wait."""
EMBEDDING_TOKENS = 512
"""Longer texts are cut to their first 512 tokens before embedding (as most embedding models do)."""
GGUF_MAGIC = b"GGUF"
_MAX_TRACKED_CANCELS = 1000
_FINAL_EVENTS = frozenset({"done", "cancelled", "error", "embeddings", "info"})

Emit = Callable[[dict[str, Any]], None]


class LoadError(Exception):
    """The model cannot be loaded; the message says why in words a user can act on."""

    def __init__(self, message: str, kind: str = "model_file") -> None:
        super().__init__(message)
        self.kind = kind
        """"model_file": retrying cannot help until the file changes; "context": it may (memory)."""


class RequestError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class WorkerConfig:
    model_path: str
    threads: int
    context_size: int
    """Tokens per slot (prompt + generated)."""
    slots: int = 1
    log_level: str = "warning"

    @classmethod
    def from_json(cls, text: str) -> WorkerConfig:
        return cls(**json.loads(text))


@dataclass
class _Request:
    id: str
    prompt_tokens: list[int]
    max_tokens: int
    stop: tuple[str, ...]
    stream: bool
    sampler: Any
    greedy: bool
    grammar: Any
    """A native grammar sampler kept out of the chain: checked against the chosen token only (see
    LlamaEngine._grammar_token), because applying it to all 262k candidates each step costs seconds."""
    cancel: threading.Event
    truncated_tokens: int
    received: float
    pending: list[int] = field(default_factory=list)
    """Prompt tokens not yet in the slot's KV cache."""
    cached_prompt_tokens: int = 0
    next_token: int | None = None
    generated: list[int] = field(default_factory=list)
    probability_sum: float = 0.0
    decoder: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))
    text: str = ""
    emitted: int = 0
    first_token_at: float | None = None


@dataclass
class _Slot:
    seq_id: int
    cached: list[int] = field(default_factory=list)
    request: _Request | None = None
    last_used: float = 0.0


def check_gguf_header(path: str) -> None:
    """Refuse what is plainly not a GGUF before llama.cpp parses it (cheaper and clearer)."""
    if not os.path.exists(path):
        raise LoadError(f"model file not found: {path}")
    if not os.path.isfile(path):
        raise LoadError(f"{path} is not a valid GGUF model file: it is not a regular file")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise LoadError(f"{path} is not a valid GGUF model file: it does not start with the GGUF magic bytes")


class LlamaEngine:
    """One model, one context with `slots` sequences, and the decode loop over them."""

    def __init__(self, config: WorkerConfig, emit: Emit) -> None:
        import ctypes

        import llama_cpp
        import numpy as np
        from llama_cpp import _internals

        self._llama = llama_cpp
        self._np = np
        self._ctypes = ctypes
        self._emit = emit
        self.config = config
        self._log_callback, self.log_errors = _install_log_filter(config.log_level)
        check_gguf_header(config.model_path)
        llama_cpp.llama_backend_init()
        started = time.perf_counter()
        last_percent = [-1]

        def on_progress(progress: float, _user_data: object) -> bool:
            percent = int(progress * 100)
            if percent >= last_percent[0] + 10 or percent == 100:
                last_percent[0] = percent
                emit({"event": "loading", "percent": percent})
            return True

        model_params = llama_cpp.llama_model_default_params()
        self._progress_callback = llama_cpp.llama_progress_callback(on_progress)
        model_params.progress_callback = self._progress_callback
        try:
            self.model = _internals.LlamaModel(path_model=config.model_path, params=model_params, verbose=True)
        except ValueError as error:
            reason = self.log_errors[0] if self.log_errors else "truncated, corrupt, or an unknown architecture"
            raise LoadError(
                f"{config.model_path} is not a valid GGUF model file: llama.cpp could not load it ({reason})"
            ) from error
        self.vocab = self.model.vocab
        self.n_vocab = self.model.n_vocab()
        self.metadata = self.model.metadata()
        self.slots = [_Slot(seq_id) for seq_id in range(config.slots)]
        self.n_ctx = config.context_size
        self.n_batch = max(PREFILL_CHUNK, config.slots)
        context_params = llama_cpp.llama_context_default_params()
        context_params.n_ctx = config.context_size * config.slots
        context_params.n_batch = self.n_batch
        context_params.n_ubatch = self.n_batch
        context_params.n_seq_max = config.slots
        context_params.n_threads = config.threads
        context_params.n_threads_batch = config.threads
        context_params.swa_full = True
        context_params.kv_unified = False
        context_params.no_perf = True
        try:
            self.context = _internals.LlamaContext(model=self.model, params=context_params, verbose=True)
        except ValueError as error:
            raise LoadError(
                f"could not create a llama.cpp context of {context_params.n_ctx} tokens for {config.model_path} "
                f"(out of memory?): {error}",
                kind="context",
            ) from error
        self.memory = llama_cpp.llama_get_memory(self.context.ctx)
        self.batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._scratch = np.empty(self.n_vocab, dtype=np.float32)
        self._pieces: dict[int, bytes] = {}
        self._token_data = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
        self._embedding_context: Any = None
        self._embedding_limit = 0
        self.chat_template = self.metadata.get("tokenizer.chat_template")
        self._chat_formatter: Any = None
        self.load_seconds = time.perf_counter() - started
        self.warm_up_seconds = self._warm_up()

    def _warm_up(self) -> float:
        """Decode one token once, so the first real request does not pay llama.cpp's first-decode setup
        (weight repacking, buffer allocation): that is what a warm worker is for."""
        started = time.perf_counter()
        bos = self.model.token_bos()
        slot = self.slots[0]
        self._add(slot, [bos if bos >= 0 else 0], logits_for_last=True)
        self._llama.llama_decode(self.context.ctx, self.batch)
        self.batch.n_tokens = 0
        self._llama.llama_memory_seq_rm(self.memory, slot.seq_id, -1, -1)
        return time.perf_counter() - started

    # --- information ---------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        llama_cpp = self._llama
        return {
            "model_path": self.config.model_path,
            "model_name": self.metadata.get("general.name", os.path.basename(self.config.model_path)),
            "architecture": self.metadata.get("general.architecture", ""),
            "parameters": int(llama_cpp.llama_model_n_params(self.model.model)),
            "model_bytes": int(llama_cpp.llama_model_size(self.model.model)),
            "context_size": self.n_ctx,
            "slots": len(self.slots),
            "threads": self.config.threads,
            "has_chat_template": self.chat_template is not None,
            "n_vocab": self.n_vocab,
            "n_embd": self.model.n_embd(),
            "add_bos": bool(self.model.add_bos_token()),
            "load_seconds": round(self.load_seconds, 3),
            "warm_up_seconds": round(self.warm_up_seconds, 3),
            "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip(),
            "llama_cpp_python": getattr(llama_cpp, "__version__", "unknown"),
            "pid": os.getpid(),
        }

    # --- admission -----------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return any(slot.request is not None for slot in self.slots)

    def has_free_slot(self) -> bool:
        return any(slot.request is None for slot in self.slots)

    def admit(self, message: dict[str, Any], cancel: threading.Event) -> None:
        """Tokenize, build the sampler and put the request in the free slot sharing the longest prefix."""
        request = self._build_request(message, cancel)
        free = [slot for slot in self.slots if slot.request is None]
        slot = max(free, key=lambda s: (_common_prefix(s.cached, request.prompt_tokens), -s.last_used))
        reuse = min(_common_prefix(slot.cached, request.prompt_tokens), len(request.prompt_tokens) - 1)
        if reuse < len(slot.cached) and not self._llama.llama_memory_seq_rm(self.memory, slot.seq_id, reuse, -1):
            self._llama.llama_memory_seq_rm(self.memory, slot.seq_id, -1, -1)
            reuse = 0
        slot.cached = slot.cached[:reuse]
        request.pending = request.prompt_tokens[reuse:]
        request.cached_prompt_tokens = reuse
        slot.request = request
        slot.last_used = time.monotonic()

    def _build_request(self, message: dict[str, Any], cancel: threading.Event) -> _Request:
        options = message.get("options") or {}
        text = message.get("prompt") or ""
        add_bos = True
        if message.get("messages") and self.chat_template is not None:
            text = self._render_chat(message["messages"])
            bos_text = self.model.token_get_text(self.model.token_bos()) if self.model.token_bos() >= 0 else ""
            add_bos = not (bos_text and text.startswith(bos_text))
        tokens = self.model.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
        if not tokens:
            bos = self.model.token_bos()
            tokens = [bos if bos >= 0 else 0]
        max_tokens = max(1, min(int(options.get("max_tokens", 128)), self.n_ctx - 1))
        truncated = 0
        if len(tokens) + max_tokens > self.n_ctx:
            max_tokens = min(max_tokens, max(self.n_ctx - len(tokens), self.n_ctx // 4))
            room = self.n_ctx - max_tokens
            if len(tokens) > room:
                keep_bos = add_bos and tokens[0] == self.model.token_bos()
                truncated = len(tokens) - room
                tokens = ([tokens[0]] if keep_bos else []) + tokens[len(tokens) - room + (1 if keep_bos else 0) :]
        grammar = self._build_grammar(options)
        try:
            sampler = self._build_sampler(options)
        except BaseException:
            if grammar is not None:
                self._llama.llama_sampler_free(grammar)
            raise
        return _Request(
            id=message["id"],
            prompt_tokens=tokens,
            max_tokens=max_tokens,
            stop=tuple(s for s in options.get("stop") or () if s),
            stream=bool(message.get("stream")),
            sampler=sampler,
            greedy=float(options.get("temperature") or 0.0) <= 0.0,
            grammar=grammar,
            cancel=cancel,
            truncated_tokens=truncated,
            received=time.perf_counter(),
        )

    def _render_chat(self, messages: list[dict[str, str]]) -> str:
        if self._chat_formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            def token_text(token: int) -> str:
                return self.model.token_get_text(token) if token >= 0 else ""

            self._chat_formatter = Jinja2ChatFormatter(
                template=self.chat_template,
                eos_token=token_text(self.model.token_eos()),
                bos_token=token_text(self.model.token_bos()),
                add_generation_prompt=True,
            )
        try:
            return self._chat_formatter(messages=messages).prompt
        except Exception as error:  # a template is code from the model file: any failure is its fault
            raise RequestError("chat_template", f"the model's chat template failed: {error}") from error

    def _build_grammar(self, options: dict[str, Any]) -> Any:
        from llama_cpp.llama_grammar import json_schema_to_gbnf

        grammar = options.get("grammar")
        if options.get("json_schema") is not None:
            try:
                grammar = json_schema_to_gbnf(json.dumps(options["json_schema"]))
            except Exception as error:
                raise RequestError("grammar", f"the JSON schema could not be turned into a grammar: {error}") from error
        if not grammar:
            return None
        native = self._llama.llama_sampler_init_grammar(self.vocab, grammar.encode("utf-8"), b"root")
        if not native:
            raise RequestError("grammar", "llama.cpp could not parse the GBNF grammar (it needs a `root` rule)")
        return native

    def _build_sampler(self, options: dict[str, Any]) -> Any:
        from llama_cpp import _internals

        llama_cpp = self._llama
        sampler = _internals.LlamaSampler()
        temperature = float(options.get("temperature") or 0.0)
        if temperature <= 0.0:
            sampler.add_greedy()
        else:
            seed = options.get("seed")
            sampler.add_top_k(40)
            sampler.add_top_p(0.95, 1)
            sampler.add_min_p(0.05, 1)
            sampler.add_temp(temperature)
            sampler.add_dist(int(seed) & 0xFFFFFFFF if seed is not None else llama_cpp.LLAMA_DEFAULT_SEED)
        return sampler

    # --- decoding ------------------------------------------------------------------------------------

    def release_cancelled(self) -> None:
        for slot in self.slots:
            request = slot.request
            if request is not None and request.cancel.is_set():
                self._finish(slot, "cancelled")

    def step(self) -> None:
        """One llama_decode over every active slot: a token each for those generating, prompt chunks
        for the others, as far as the batch holds."""
        llama_cpp = self._llama
        self.release_cancelled()
        batch = self.batch
        batch.n_tokens = 0
        outputs: list[tuple[_Slot, int]] = []
        fed: list[tuple[_Slot, list[int]]] = []
        for slot in self.slots:
            request = slot.request
            if request is None or request.next_token is None:
                continue
            outputs.append((slot, self._add(slot, [request.next_token], logits_for_last=True)))
            fed.append((slot, [request.next_token]))
        for slot in self.slots:
            request = slot.request
            if request is None or not request.pending:
                continue
            room = self.n_batch - batch.n_tokens
            if room <= 0:
                break
            chunk = request.pending[:room]
            completes_prompt = len(chunk) == len(request.pending)
            index = self._add(slot, chunk, logits_for_last=completes_prompt)
            if completes_prompt:
                outputs.append((slot, index))
            fed.append((slot, chunk))
        if batch.n_tokens == 0:
            return
        status = llama_cpp.llama_decode(self.context.ctx, batch)
        if status != 0:
            for slot, _ in fed:
                llama_cpp.llama_memory_seq_rm(self.memory, slot.seq_id, -1, -1)
                slot.cached = []
                if slot.request is not None:
                    self._fail(slot, "decode", f"llama_decode failed with status {status}")
            return
        for slot, tokens in fed:
            request = slot.request
            slot.cached.extend(tokens)
            if request is not None and request.pending:
                del request.pending[: len(tokens)]
        for slot, index in outputs:
            request = slot.request
            if request is not None:
                try:
                    self._sample(slot, request, index)
                except RequestError as error:
                    self._fail(slot, error.kind, str(error))

    def _add(self, slot: _Slot, tokens: list[int], logits_for_last: bool) -> int:
        batch = self.batch
        start = batch.n_tokens
        position = len(slot.cached)
        for offset, token in enumerate(tokens):
            i = start + offset
            batch.token[i] = token
            batch.pos[i] = position + offset
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = slot.seq_id
            batch.logits[i] = 0
        last = start + len(tokens) - 1
        if logits_for_last:
            batch.logits[last] = 1
        batch.n_tokens = start + len(tokens)
        return last

    def _sample(self, slot: _Slot, request: _Request, index: int) -> None:
        llama_cpp = self._llama
        np = self._np
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.context.ctx, index), shape=(self.n_vocab,))
        if request.greedy:
            token = int(logits.argmax())  # what the greedy sampler picks, without copying 262k candidates
        else:
            token = int(llama_cpp.llama_sampler_sample(request.sampler.sampler, self.context.ctx, index))
        if request.grammar is not None:
            token = self._grammar_token(request, token, logits)
        top = logits.max()
        scratch = self._scratch
        np.subtract(logits, top, out=scratch)
        np.exp(scratch, out=scratch)
        request.probability_sum += float(np.exp(logits[token] - top) / scratch.sum())
        if request.first_token_at is None:
            request.first_token_at = time.perf_counter()
        if llama_cpp.llama_vocab_is_eog(self.vocab, token):
            request.generated.append(token)
            self._finish(slot, "stop", end_of_generation=True)
            return
        request.generated.append(token)
        piece = self._piece(token)
        previous_length = len(request.text)
        request.text += request.decoder.decode(piece)
        if request.stop:
            window_start = max(0, previous_length - max(len(s) for s in request.stop) + 1)
            cut = _first_stop(request.text, request.stop, window_start)
            if cut is not None:
                request.text = request.text[:cut]
                self._finish(slot, "stop")
                return
        if len(request.generated) >= request.max_tokens:
            self._finish(slot, "length")
            return
        request.next_token = token
        if request.stream:
            safe_end = len(request.text) - _held_back(request.text, request.stop)
            if safe_end > request.emitted:
                self._emit({"event": "text", "id": request.id, "text": request.text[request.emitted : safe_end]})
                request.emitted = safe_end

    def _grammar_token(self, request: _Request, token: int, logits: Any) -> int:
        """The sampled token if the grammar allows it, else a resample among the candidates it allows:
        first the best 512 by logit, then the whole vocabulary (what llama.cpp's common sampler does)."""
        np = self._np
        if not self._grammar_filter(request.grammar, np.array([token], dtype=np.int32), logits)[0]:
            for size in (512, self.n_vocab):
                ids = np.argpartition(logits, -size)[-size:] if size < self.n_vocab else np.arange(size, dtype=np.int32)
                candidates, array = self._grammar_filter(request.grammar, ids.astype(np.int32), logits)
                if candidates is not None:
                    self._llama.llama_sampler_apply(request.sampler.sampler, self._ctypes.byref(array))
                    token = int(array.data[array.selected].id)
                    break
            else:
                raise RequestError("grammar", "the grammar allows no token at this point")
        self._llama.llama_sampler_accept(request.grammar, token)
        return token

    def _grammar_filter(self, grammar: Any, ids: Any, logits: Any) -> tuple[Any, Any]:
        """Candidates the grammar allows (None if none) and the native array holding them."""
        np = self._np
        llama_cpp = self._llama
        candidates = np.empty(len(ids), dtype=self._token_data)
        candidates["id"] = ids
        candidates["logit"] = logits[ids]
        candidates["p"] = 0.0
        array = llama_cpp.llama_token_data_array(
            data=candidates.ctypes.data_as(llama_cpp.llama_token_data_p), size=len(ids), selected=-1, sorted=False
        )
        llama_cpp.llama_sampler_apply(grammar, self._ctypes.byref(array))
        allowed = np.isfinite(candidates["logit"][: array.size])
        if not allowed.any():
            return None, array
        return candidates, array

    def _piece(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            size = 64
            while True:
                buffer = self._ctypes.create_string_buffer(size)
                length = self._llama.llama_token_to_piece(self.vocab, token, buffer, size, 0, False)
                if length >= 0:
                    break
                size = -length
            piece = self._pieces[token] = buffer.raw[:length]
        return piece

    def _finish(self, slot: _Slot, reason: str, end_of_generation: bool = False) -> None:
        request = slot.request
        assert request is not None
        slot.request = None
        slot.last_used = time.monotonic()
        self._release(request)
        if reason == "cancelled":
            self._emit({"event": "cancelled", "id": request.id})
            return
        request.text += request.decoder.decode(b"", final=True)
        if request.stop:
            cut = _first_stop(request.text, request.stop, 0)
            if cut is not None:
                request.text = request.text[:cut]
        if request.stream and len(request.text) > request.emitted:
            self._emit({"event": "text", "id": request.id, "text": request.text[request.emitted :]})
        now = time.perf_counter()
        sampled = len(request.generated)
        self._emit(
            {
                "event": "done",
                "id": request.id,
                "text": request.text,
                "finish_reason": reason,
                "confidence": request.probability_sum / sampled if sampled else 0.0,
                "prompt_tokens": len(request.prompt_tokens),
                "cached_prompt_tokens": request.cached_prompt_tokens,
                "truncated_prompt_tokens": request.truncated_tokens,
                "completion_tokens": sampled - (1 if end_of_generation else 0),
                "worker_seconds": now - request.received,
                "first_token_seconds": (request.first_token_at or now) - request.received,
            }
        )

    def _release(self, request: _Request) -> None:
        request.sampler.close()
        if request.grammar is not None:
            self._llama.llama_sampler_free(request.grammar)
            request.grammar = None

    def _fail(self, slot: _Slot, kind: str, message: str) -> None:
        request = slot.request
        assert request is not None
        slot.request = None
        self._release(request)
        self._emit({"event": "error", "id": request.id, "kind": kind, "error": message})

    # --- embeddings ----------------------------------------------------------------------------------

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Mean-pooled, L2-normalised embeddings from a second context on the same loaded weights."""
        llama_cpp = self._llama
        np = self._np
        from llama_cpp import _internals

        if self._embedding_context is None:
            params = llama_cpp.llama_context_default_params()
            params.n_ctx = min(self.n_ctx, EMBEDDING_TOKENS)
            params.n_batch = params.n_ctx
            params.n_ubatch = params.n_ctx  # mean pooling needs the whole text in one micro-batch
            params.n_seq_max = 1
            params.n_threads = self.config.threads
            params.n_threads_batch = self.config.threads
            params.embeddings = True
            params.pooling_type = llama_cpp.LLAMA_POOLING_TYPE_MEAN
            params.no_perf = True
            self._embedding_context = _internals.LlamaContext(model=self.model, params=params, verbose=True)
            self._embedding_batch = llama_cpp.llama_batch_init(params.n_ctx, 0, 1)
            self._embedding_limit = params.n_ctx  # llama.cpp may round its context up; the batch holds this many
        context = self._embedding_context
        limit = self._embedding_limit
        n_embd = self.model.n_embd()
        memory = llama_cpp.llama_get_memory(context.ctx)
        vectors: list[list[float]] = []
        for text in texts:
            tokens = self.model.tokenize(text.encode("utf-8"), add_bos=True, special=False)[:limit] or [
                self.model.token_bos()
            ]
            llama_cpp.llama_memory_clear(memory, True)
            batch = self._embedding_batch
            batch.n_tokens = len(tokens)
            for i, token in enumerate(tokens):
                batch.token[i] = token
                batch.pos[i] = i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = 1 if i == len(tokens) - 1 else 0
            status = llama_cpp.llama_decode(context.ctx, batch)
            if status != 0:
                raise RequestError("embed", f"llama_decode failed with status {status} while embedding")
            pooled = llama_cpp.llama_get_embeddings_seq(context.ctx, 0)
            if not pooled:
                raise RequestError("embed", "this model does not produce pooled embeddings")
            vector = np.ctypeslib.as_array(pooled, shape=(n_embd,)).astype(np.float64)
            norm = float(np.linalg.norm(vector))
            vectors.append((vector / norm if norm > 0 else vector).tolist())
            self._emit({"event": "progress"})
        return vectors


_GGML_LOG_LEVELS = {"debug": 1, "info": 2, "warning": 3, "error": 4}
_GGML_LOG_ERROR = 4
_GGML_LOG_CONTINUE = 5


def _install_log_filter(level: str) -> tuple[Any, list[str]]:
    """Send llama.cpp's messages at `level` and above to stderr, and keep its errors for our messages.

    llama-cpp-python 0.3.x maps ggml's log levels from an older enum (its errors arrive as DEBUG), so
    its own filter either hides errors or shows everything.
    """
    import ctypes

    import llama_cpp

    threshold = _GGML_LOG_LEVELS.get(level.lower(), 3)
    errors: list[str] = []
    shown = [False]

    @llama_cpp.llama_log_callback
    def on_log(message_level: int, text: bytes, _user_data: object) -> None:
        line = text.decode("utf-8", "replace")
        show = shown[0] if message_level == _GGML_LOG_CONTINUE else message_level >= threshold
        shown[0] = show
        if message_level == _GGML_LOG_ERROR and line.strip():
            errors.append(line.strip().split(": ", 1)[-1])
        if show:
            sys.stderr.write(line)
            sys.stderr.flush()

    llama_cpp.llama_log_set(on_log, ctypes.c_void_p(0))
    return on_log, errors


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _first_stop(text: str, stops: tuple[str, ...], start: int) -> int | None:
    positions = [p for p in (text.find(s, start) for s in stops) if p >= 0]
    return min(positions) if positions else None


def _held_back(text: str, stops: tuple[str, ...]) -> int:
    """How many trailing characters might be the start of a stop sequence, so streaming waits."""
    held = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), held, -1):
            if text.endswith(stop[:size]):
                held = size
                break
    return held


class Inbox:
    """Reads stdin on a thread of its own, so cancel requests land while the main thread decodes."""

    def __init__(self, stream: TextIO) -> None:
        self.requests: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._cancels: collections.OrderedDict[str, threading.Event] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._stream = stream
        threading.Thread(target=self._read, name="aqe-worker-inbox", daemon=True).start()

    def cancel_event(self, request_id: str) -> threading.Event:
        with self._lock:
            event = self._cancels.setdefault(request_id, threading.Event())
            while len(self._cancels) > _MAX_TRACKED_CANCELS:  # cancels that arrived after their answer
                self._cancels.popitem(last=False)
            return event

    def forget(self, request_id: str) -> None:
        with self._lock:
            self._cancels.pop(request_id, None)

    def _read(self) -> None:
        for line in self._stream:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("op") == "cancel":
                self.cancel_event(str(message.get("id"))).set()
            elif message.get("op") == "shutdown":
                self.requests.put(None)
            else:
                self.requests.put(message)
        os._exit(0)  # the parent is gone: nobody is left to answer


def serve(engine: LlamaEngine, inbox: Inbox, emit: Emit) -> None:
    """Admit requests while a slot is free, then decode one step; block only when nothing runs."""
    last_heartbeat = time.monotonic()
    while True:
        engine.release_cancelled()
        while engine.has_free_slot():
            try:
                message = inbox.requests.get(block=not engine.busy)
            except queue.Empty:
                break
            if message is None:
                return
            _handle(engine, inbox, emit, message)
        engine.step()
        now = time.monotonic()
        if now - last_heartbeat >= HEARTBEAT_S:
            emit({"event": "progress"})
            last_heartbeat = now


def _handle(engine: LlamaEngine, inbox: Inbox, emit: Emit, message: dict[str, Any]) -> None:
    request_id = str(message.get("id"))
    op = message.get("op")
    try:
        if op == "complete":
            cancel = inbox.cancel_event(request_id)
            if cancel.is_set():
                emit({"event": "cancelled", "id": request_id})
            else:
                engine.admit(message, cancel)
        elif op == "embed":
            emit({"event": "embeddings", "id": request_id, "vectors": engine.embed(message["texts"])})
        elif op == "info":
            emit({"event": "info", "id": request_id, "info": engine.info()})
        else:
            emit({"event": "error", "id": request_id, "kind": "protocol", "error": f"unknown op {op!r}"})
    except RequestError as error:
        emit({"event": "error", "id": request_id, "kind": error.kind, "error": str(error)})
    except (KeyError, TypeError, ValueError) as error:
        emit({"event": "error", "id": request_id, "kind": "request", "error": f"malformed request: {error}"})


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    protocol = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    write_lock = threading.Lock()

    def emit(event: dict[str, Any]) -> None:
        line = json.dumps(event, separators=(",", ":"))
        with write_lock:
            protocol.write(line + "\n")

    inbox = Inbox(sys.stdin)

    def emit_and_forget(event: dict[str, Any]) -> None:
        emit(event)
        if event["event"] in _FINAL_EVENTS:
            inbox.forget(event["id"])

    try:
        config = WorkerConfig.from_json(argv[0])
        engine = LlamaEngine(config, emit_and_forget)
    except LoadError as error:
        emit({"event": "fatal", "kind": error.kind, "error": str(error)})
        return EXIT_LOAD_FAILED
    emit({"event": "ready", "info": engine.info()})
    serve(engine, inbox, emit_and_forget)
    return 0


if __name__ == "__main__":
    sys.exit(main())
