"""Embedding from asyncio: a pool of worker processes, each holding one loaded model.

Workers are started with the `spawn` context (TensorFlow deadlocks in forked children) and load
the model once, in the pool's initializer; the event loop only awaits futures, never decodes or
runs the network itself. A worker exits when its parent dies, so a killed bot or import leaves no
orphans holding a model's gigabyte.

A worker that dies (out of memory, killed) breaks the pool, and every track in flight with it.
The service then starts one fresh pool per breakage and retries each of those tracks once. The
retries go one at a time, so when a pool breaks again during a retry, the track being retried is
the likely cause: only that one fails with WorkerCrashedError.

`embed_url` is the one way to embed audio that a server hands out by link: here the event loop
streams it to a file within core.fetching's rules (size cap, deadline, minimum rate, https
only), a few at once, and a worker embeds the file; Ray actors fetch it themselves.
"""

import asyncio
import contextlib
import ctypes
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from core.constants import WORKER_PARENT_POLL_SECONDS
from core.embedding import TrackEmbedding, embed_file, warm_up
from core.errors import AudioError, NoWorkersError
from core.fetching import FetchLimits, stream
from core.models import AudioModel, ModelSpec

FETCHES_AT_ONCE = 3  # downloads streamed at once by the local pool: polite to the server

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_worker_model: AudioModel | None = None


def _load_worker_model(spec: ModelSpec, threads: int, parent_pid: int) -> None:
    """Pool initializer: tie the worker's life to its parent's, configure TensorFlow's threads,
    then load and warm the model once."""
    global _worker_model
    _exit_with_parent(parent_pid)

    from core.models.runtime import tensorflow

    # Ctrl-C reaches the whole process group; the parent decides how to stop, workers just stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    tensorflow(threads)
    _worker_model = spec.load()
    warm_up(_worker_model)


def _exit_with_parent(parent_pid: int) -> None:
    """Make this worker exit when `parent_pid` dies, even by kill -9.

    Linux sends the parent-death signal when the thread that spawned the worker ends: the
    service spawns from its event loop's thread, which outlives the pool. Elsewhere, and as a
    second line, a daemon thread notices the worker being re-parented.
    """
    if sys.platform.startswith("linux"):
        # no prctl in this libc: the watching thread below still works
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(
        target=_watch_parent, args=(parent_pid,), name="parent-watch", daemon=True
    ).start()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WORKER_PARENT_POLL_SECONDS)
    os._exit(1)  # the whole process, TensorFlow's threads included


def _worker_model_id() -> str:
    assert _worker_model is not None, "worker started without its model"
    return _worker_model.model_id


def _embed_in_worker(path: str, query: bool) -> TrackEmbedding:
    assert _worker_model is not None, "worker started without its model"
    return embed_file(Path(path), _worker_model, query=query)


class WorkerCrashedError(RuntimeError):
    """A worker process died while embedding; the pool has been restarted."""


# What `embed` and `embed_url` raise for one track that the other tracks survive: its audio, or
# the workers that held it; `failure_reason` says why in a summary's words
EMBED_FAILURES = (AudioError, WorkerCrashedError, NoWorkersError)


def failure_reason(error: BaseException) -> str:
    """An embedding failure's reason: the AudioError's own, else the message."""
    reason = getattr(error, "reason", None)
    return reason if isinstance(reason, str) else str(error)


@dataclass(frozen=True)
class Fetched:
    """What `embed_url` returns: the embedding, and the sha256 and size of the bytes fetched."""

    embedding: TrackEmbedding
    sha256: str
    size: int


__all__ = [
    "EMBED_FAILURES",
    "Embedder",
    "EmbeddingService",
    "Fetched",
    "NoWorkersError",
    "WorkerCrashedError",
    "failure_reason",
]


class Embedder(Protocol):
    """What the bot, `import` and `reindex` need of an embedding service, whichever backend runs
    it: EmbeddingService (local worker processes) or core.ray_embedding.RayEmbeddingService.

    `embed` raises core.errors.AudioError subclasses for bad input, WorkerCrashedError when the
    workers holding a track died twice, NoWorkersError when no worker is left; `query=True`
    for a user's question (core.embedding.embed_file), False for a catalog track.

    `embed_url` embeds the audio at an https `url` (one attempt, `deadline` seconds, within
    `limits`), wherever the backend fetches it: the local pool streams it into `into` (a private
    path of the caller's, left there for it to keep or remove; a temporary file when None), a
    Ray actor fetches it on its own machine and `into` stays absent. core.fetching.FetchError
    for the download (its `transient` says whether another link may do), else as `embed`.
    """

    model_spec: ModelSpec
    model_id: str
    workers: int  # tracks embedded at once
    restarts: int  # workers (pools, actors) started to replace lost ones

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def embed(self, path: Path, *, query: bool = False) -> TrackEmbedding: ...

    async def embed_url(
        self,
        url: str,
        *,
        limits: FetchLimits,
        deadline: float | None = None,
        ca_pem: str | None = None,
        into: Path | None = None,
    ) -> Fetched: ...

    def describe(self) -> str: ...

    async def __aenter__(self) -> "Embedder": ...

    async def __aexit__(self, *_: object) -> None: ...


class EmbeddingService:
    """`await service.embed(path)` from any coroutine; `workers` tracks are embedded at once."""

    def __init__(self, model_spec: ModelSpec, workers: int | None = None) -> None:
        cores = os.cpu_count() or 1
        self.model_spec = model_spec
        self.model_id = model_spec.model_id
        self.workers = workers or cores
        # one worker gets every core; several share them so that they do not oversubscribe
        self.threads_per_worker = max(1, cores // self.workers)
        self.restarts = 0  # pools started to replace a broken one
        self._pool: ProcessPoolExecutor | None = None
        self._retry_slot = asyncio.Lock()  # one retried track in flight at a time
        self._fetches = asyncio.Semaphore(FETCHES_AT_ONCE)

    def describe(self) -> str:
        """'2 worker(s)', for the commands' first line and the bot's start-up log."""
        return f"{self.workers} worker(s)"

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_load_worker_model,
            initargs=(self.model_spec, self.threads_per_worker, os.getpid()),
        )

    def worker_pids(self) -> set[int]:
        """The pids of the current pool's worker processes (those started so far)."""
        processes = getattr(self._pool, "_processes", None) or {}
        return {process.pid for process in processes.values()}

    async def start(self) -> None:
        """Start every worker and wait until each has its model loaded."""
        self._pool = self._new_pool()
        loop = asyncio.get_running_loop()
        ids = await asyncio.gather(
            *(loop.run_in_executor(self._pool, _worker_model_id) for _ in range(self.workers))
        )
        if set(ids) != {self.model_id}:
            raise RuntimeError(f"workers loaded {sorted(set(ids))}, expected {self.model_id}")

    async def embed(self, path: Path, *, query: bool = False) -> TrackEmbedding:
        """Embed one file in a worker (`query`: see Embedder); raises core.errors.AudioError
        subclasses on bad input.

        A track in flight when a worker dies is retried once, on a fresh pool; it raises
        WorkerCrashedError only if a worker dies again while it is being retried.
        """
        try:
            return await self._embed_on(self._running_pool(), path, query)
        except BrokenProcessPool:
            pass  # the pool is replaced already; retried below
        async with self._retry_slot:
            try:
                return await self._embed_on(self._running_pool(), path, query)
            except BrokenProcessPool as error:
                raise WorkerCrashedError(
                    "an embedding worker died on this track twice; it has been restarted"
                ) from error

    async def embed_url(
        self,
        url: str,
        *,
        limits: FetchLimits,
        deadline: float | None = None,
        ca_pem: str | None = None,
        into: Path | None = None,
    ) -> Fetched:
        """Stream `url` into `into` (see Embedder; FETCHES_AT_ONCE at a time), then embed it
        in a worker."""
        scratch = None
        if into is None:
            scratch = Path(tempfile.mkdtemp(prefix="soundalike-fetch-"))
            into = scratch / "audio"
        try:
            async with self._fetches:
                digest, size = await stream(url, into, limits, ca_pem, deadline)
            return Fetched(await self.embed(into), digest, size)
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)

    def _running_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            raise RuntimeError("EmbeddingService.start() was not awaited")
        return self._pool

    async def _embed_on(self, pool: ProcessPoolExecutor, path: Path, query: bool) -> TrackEmbedding:
        """Embed on `pool`; when it breaks, replace it (once: whoever notices first), re-raise."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool, _embed_in_worker, str(path), query)
        except BrokenProcessPool:
            if self._pool is pool:  # the first of the tracks it failed to notice
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                self.restarts += 1
            raise

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
