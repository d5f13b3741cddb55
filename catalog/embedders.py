"""The one place that picks the embedding backend, for the bot and every command: the local
worker processes (the embedded default), or Ray actors when a Ray address is given (bot/ passes
RAY_ADDRESS and the Ray token settings in a `Backend`).

Ray is an optional install (requirements-ray.txt); without an address it is never imported.
"""

import importlib.util
import os
from dataclasses import dataclass, field

from core.embedding_service import Embedder, EmbeddingService
from core.errors import RayUnavailableError
from core.models import ModelSpec
from core.ray_embedding import RayEmbeddingService  # imports ray only when a service starts

RAY_REQUIREMENTS = "requirements-ray.txt"


@dataclass(frozen=True)
class Backend:
    """Where embeddings are made. `ray_address`: None for the local worker processes, else the
    Ray cluster (`auto`, `ray://HOST:PORT` or `HOST:PORT`); `ray_auth`: Ray's token settings
    (RAY_AUTH_MODE, RAY_AUTH_TOKEN…) given outside the environment, never shown."""

    ray_address: str | None = None
    ray_auth: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def uses_ray(self) -> bool:
        return self.ray_address is not None


def make_embedder(backend: Backend, model: ModelSpec, workers: int | None) -> Embedder:
    """The backend's embedder for `model`, not started yet; `workers`: processes or actors
    (None: one per core, on Ray one per CPU of the cluster).

    A Ray address without ray installed is a RayUnavailableError naming the requirements file.
    Ray reads its token settings from the environment only, so those of `backend.ray_auth` are
    put there (the real environment wins); they are never printed. Token authentication is on
    unless RAY_AUTH_MODE says otherwise (`disabled`, for a cluster started without it). A
    driver started under `uv run` does not make the cluster start its workers (or its Ray
    Client server) through uv: they run the cluster's own environment.
    """
    if backend.ray_address is None:
        return EmbeddingService(model, workers)
    if importlib.util.find_spec("ray") is None:
        raise RayUnavailableError(
            f"RAY_ADDRESS is set ({backend.ray_address}) but ray is not installed: "
            f".venv/bin/python -m pip install -r {RAY_REQUIREMENTS}, or unset RAY_ADDRESS for "
            "the local workers"
        )
    for name, value in backend.ray_auth:
        os.environ.setdefault(name, value)
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    return RayEmbeddingService(model, workers, backend.ray_address)
