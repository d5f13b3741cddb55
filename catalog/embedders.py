"""The one place that picks the embedding backend from the settings, for the bot and every
command: the local worker processes (the embedded default), or Ray actors when RAY_ADDRESS is set.

Ray is an optional install (requirements-ray.txt); without RAY_ADDRESS it is never imported.
"""

import importlib.util
import os

from bot.config import ConfigError, Settings
from core.embedding_service import Embedder, EmbeddingService
from core.models import ModelSpec
from core.ray_embedding import RayEmbeddingService  # imports ray only when a service starts

RAY_REQUIREMENTS = "requirements-ray.txt"


def uses_ray(settings: Settings) -> bool:
    return settings.ray_address is not None


def make_embedder(settings: Settings, model: ModelSpec, workers: int | None) -> Embedder:
    """The configured backend for `model`, not started yet; `workers`: processes or actors
    (None: one per core, on Ray one per CPU of the cluster).

    RAY_ADDRESS set without ray installed is a ConfigError naming the requirements file. Ray
    reads its token settings (RAY_AUTH_MODE, RAY_AUTH_TOKEN…) from the environment only, so
    those given in `.env` are put there (the real environment wins); they are never printed.
    Token authentication is on unless RAY_AUTH_MODE says otherwise (`disabled`, for a cluster
    started without it). A driver started under `uv run` does not make the cluster start its
    workers (or its Ray Client server) through uv: they run the cluster's own environment.
    """
    if settings.ray_address is None:
        return EmbeddingService(model, workers)
    if importlib.util.find_spec("ray") is None:
        raise ConfigError(
            f"RAY_ADDRESS is set ({settings.ray_address}) but ray is not installed: "
            f".venv/bin/python -m pip install -r {RAY_REQUIREMENTS}, or unset RAY_ADDRESS for "
            "the local workers"
        )
    for name, value in settings.ray_auth:
        os.environ.setdefault(name, value)
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    return RayEmbeddingService(model, workers, settings.ray_address)


def describe(embedder: Embedder) -> str:
    """'2 worker(s)' or '4 Ray actor(s)', for the commands' first line."""
    kind = "Ray actor(s)" if isinstance(embedder, RayEmbeddingService) else "worker(s)"
    return f"{embedder.workers} {kind}"
