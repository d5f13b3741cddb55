"""Embedding from asyncio: a pool of worker processes, each holding one loaded model.

Workers are started with the `spawn` context (TensorFlow deadlocks in forked children) and load
the model once, in the pool's initializer; the event loop only awaits futures, never decodes or
runs the network itself. A worker that dies (out of memory, killed) breaks the pool; the service
then starts a fresh one so the next request works.
"""

import asyncio
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from core.embedding import TrackEmbedding, embed_file, warm_up
from core.models import AudioModel, ModelSpec

_worker_model: AudioModel | None = None


def _load_worker_model(spec: ModelSpec, threads: int) -> None:
    """Pool initializer: configure TensorFlow's threads, then load and warm the model once."""
    global _worker_model
    from core.models.runtime import tensorflow

    # Ctrl-C reaches the whole process group; the parent decides how to stop, workers just stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    tensorflow(threads)
    _worker_model = spec.load()
    warm_up(_worker_model)


def _worker_model_id() -> str:
    assert _worker_model is not None, "worker started without its model"
    return _worker_model.model_id


def _embed_in_worker(path: str) -> TrackEmbedding:
    assert _worker_model is not None, "worker started without its model"
    return embed_file(Path(path), _worker_model)


class WorkerCrashedError(RuntimeError):
    """A worker process died while embedding; the pool has been restarted."""


class EmbeddingService:
    """`await service.embed(path)` from any coroutine; `workers` tracks are embedded at once."""

    def __init__(self, model_spec: ModelSpec, workers: int | None = None) -> None:
        cores = os.cpu_count() or 1
        self.model_spec = model_spec
        self.model_id = model_spec.model_id
        self.workers = workers or cores
        # one worker gets every core; several share them so that they do not oversubscribe
        self.threads_per_worker = max(1, cores // self.workers)
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_load_worker_model,
            initargs=(self.model_spec, self.threads_per_worker),
        )

    async def start(self) -> None:
        """Start every worker and wait until each has its model loaded."""
        self._pool = self._new_pool()
        loop = asyncio.get_running_loop()
        ids = await asyncio.gather(
            *(loop.run_in_executor(self._pool, _worker_model_id) for _ in range(self.workers))
        )
        if set(ids) != {self.model_id}:
            raise RuntimeError(f"workers loaded {sorted(set(ids))}, expected {self.model_id}")

    async def embed(self, path: Path) -> TrackEmbedding:
        """Embed one file in a worker; raises core.errors.AudioError subclasses on bad input."""
        if self._pool is None:
            raise RuntimeError("EmbeddingService.start() was not awaited")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, _embed_in_worker, str(path))
        except BrokenProcessPool as error:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            raise WorkerCrashedError("an embedding worker died; it has been restarted") from error

    async def close(self) -> None:
        """Stop the workers; queued work is cancelled."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    async def __aenter__(self) -> "EmbeddingService":
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()
