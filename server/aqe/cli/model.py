"""`aqe model info` and `aqe ask`: the local model and the privacy router, checked by hand."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from aqe.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_USAGE,
    load_project_settings,
    project_root,
)


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    model = commands.add_parser("model", help="the local model")
    model_commands = model.add_subparsers(dest="model_command", metavar="SUBCOMMAND")
    info = model_commands.add_parser("info", help="which model, where, build flags, and a test decode")
    info.add_argument("--format", choices=("text", "json"), default="text")
    info.set_defaults(run=_model_info)

    ask = commands.add_parser("ask", help="ask the model once, through the privacy router (a quick manual check)")
    ask.add_argument("prompt", help="the prompt; a base model continues it, an instruct model answers it")
    ask.add_argument("--format", choices=("text", "json"), default="text")
    ask.add_argument("--max-tokens", type=int, default=128, metavar="N", help="most tokens to generate (default 128)")
    ask.add_argument(
        "--tag", action="append", default=[], metavar="TAG", help="a task tag for the routing rules (repeatable)"
    )
    ask.set_defaults(run=_ask)


def _model_info(args: argparse.Namespace) -> int:
    from aqe.llm.default_model import ModelUnavailableError, default_model
    from aqe.llm.smoke import smoke_decode

    info: dict[str, object] = {}
    try:
        import llama_cpp

        info["llamaCppPython"] = llama_cpp.__version__
        info["buildFlags"] = llama_cpp.llama_print_system_info().decode(errors="replace").strip()
    except ImportError:
        info["llamaCppPython"] = None
    from aqe.config import load_settings

    settings = load_settings(project_root([])).settings
    info["privacyMode"] = settings.privacy_mode
    if settings.local_server_url:
        info["teamServer"] = settings.local_server_url
    if settings.model_path:
        path = Path(settings.model_path).expanduser()
        if not path.is_file():
            print(f"aqe: modelPath {path} is not a file", file=sys.stderr)
            return EXIT_FINDINGS
        info.update(model=path.name, path=str(path), sizeBytes=path.stat().st_size, source="modelPath setting")
    else:
        try:
            model = default_model()
        except ModelUnavailableError as error:
            print(f"aqe: {error}", file=sys.stderr)
            return EXIT_FINDINGS
        info.update(model=model.path.name, path=str(model.path), sizeBytes=model.size, sha256=model.sha256)
        info["source"] = "embedded default (verified)"
        path = model.path
    smoke = smoke_decode(path)
    info.update(smokeDecode=smoke.detail, loadSeconds=round(smoke.load_seconds, 3))
    if args.format == "json":
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key:>16}: {value}")
    return EXIT_OK if smoke.ok else EXIT_FINDINGS


def _ask(args: argparse.Namespace) -> int:
    from aqe.llm.factory import build_router
    from aqe.llm.router import RoutingHints
    from aqe.llm.types import CompletionOptions, Prompt, ProviderError

    if args.max_tokens < 1:
        print("aqe ask: --max-tokens must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    root = project_root([])
    loaded = load_project_settings(root)
    router = build_router(loaded.settings, root)
    try:
        completion = router.complete(
            Prompt(text=args.prompt),
            CompletionOptions(max_tokens=args.max_tokens),
            hints=RoutingHints(tags=tuple(args.tag)),
        )
    except ProviderError as error:
        print(f"aqe ask: {error}", file=sys.stderr)
        return EXIT_FINDINGS
    finally:
        router.close()
    if args.format == "json":
        answer = {
            "text": completion.text,
            "confidence": round(completion.confidence, 4),
            "model": completion.model,
            "provider": completion.provider,
            "route": completion.route,
            "latencyS": round(completion.latency_s, 4),
            "promptTokens": completion.prompt_tokens,
            "completionTokens": completion.completion_tokens,
            "finishReason": completion.finish_reason.value,
            "requestId": completion.request_id,
        }
        print(json.dumps(answer, indent=2, ensure_ascii=False))
    else:
        print(completion.text)
        print(
            f"aqe: {completion.model} via {completion.route}, confidence {completion.confidence:.2f}, "
            f"{completion.latency_s:.2f} s",
            file=sys.stderr,
        )
    return EXIT_OK
