"""Embedding on a Ray cluster: the `Embedder` interface of EmbeddingService, with Ray actors in
place of local worker processes (selected by RAY_ADDRESS; `ray` is an optional install, imported
only here and only when the service starts).

Each actor loads the model once, with the same `ModelSpec.load()` and `embed_file` as a local
worker, so a track gets the same vector on either backend. Audio travels as bytes through Ray's
object store, never as a path: the caller reads the file, `ray.put`s it, and the actor writes it
to its own private temp file for the guarded decoder (header check, ffmpeg under prlimit), then
removes it. `embed_url` lets the actor fetch the audio itself (core.fetching: bounded size, a
deadline and a minimum rate, https never downgraded), so the bytes never pass through the
caller. Results come back to the caller, which alone writes SQLite.

In-flight tracks are bounded (`IN_FLIGHT_PER_ACTOR` per live actor): a big import cannot flood
the object store. An actor that dies (its process, or its whole node) fails only the tracks it
held; each is retried once on another actor, and a replacement actor is started (it waits for
room on the cluster, e.g. for a lost node to come back). A track whose actors died twice raises
WorkerCrashedError; when no actor is alive and none comes back within `replacement_wait`,
NoWorkersError.
"""

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.embedding import TrackEmbedding, embed_file, warm_up
from core.embedding_service import Fetched, WorkerCrashedError
from core.errors import AudioError, NoWorkersError, RayUnavailableError
from core.fetching import FetchError, FetchLimits, fetch
from core.models import AudioModel, ModelSpec

log = logging.getLogger(__name__)

IN_FLIGHT_PER_ACTOR = 2  # each actor has its next track in the object store when it finishes one
START_TIMEOUT_SECONDS = 300.0  # every actor has its model loaded (TensorFlow starts in each)
REPLACEMENT_WAIT_SECONDS = 30.0  # how long a track waits for an actor when none is alive
CONNECT_CHECK_SECONDS = 5.0
# Ray Client (ray://): the head starts a server process for each client, and that start can fail
# by chance (seen in CI: gRPC's fork check killed the new process); a new attempt gets a new one
CLIENT_INIT_ATTEMPTS = 3
CLIENT_INIT_PAUSE_SECONDS = 1.0
# models that never import TensorFlow: their actors skip its start-up (and its thread setting)
_WITHOUT_TENSORFLOW = frozenset({"mfcc"})


class EmbedActor:
    """The code of one Ray actor: one loaded model, tracks in as bytes or URLs, results out.

    Bad input comes back as the AudioError (or FetchError) instance, a value rather than a
    raised exception, so that the caller re-raises exactly that type with its reason.
    """

    def __init__(self, spec: ModelSpec, threads: int) -> None:
        if spec.family not in _WITHOUT_TENSORFLOW:
            from core.models.runtime import tensorflow

            tensorflow(threads)
        self.model: AudioModel = spec.load()
        warm_up(self.model)
        self.folder = Path(tempfile.mkdtemp(prefix="soundalike-actor-"))  # 0700, this actor's

    def identity(self) -> tuple[str, int, str]:
        """(model id, process id, Ray node id)."""
        import ray

        return self.model.model_id, os.getpid(), ray.get_runtime_context().get_node_id()

    def embed(self, data: bytes, query: bool) -> TrackEmbedding | AudioError:
        path = self.folder / uuid.uuid4().hex
        try:
            path.write_bytes(data)
            return embed_file(path, self.model, query=query)
        except AudioError as error:
            return error
        finally:
            path.unlink(missing_ok=True)

    def embed_url(
        self, url: str, limits: FetchLimits, deadline: float | None, ca_pem: str | None
    ) -> Fetched | AudioError | FetchError:
        path = self.folder / uuid.uuid4().hex
        try:
            digest, size = fetch(url, path, limits, ca_pem, deadline)
            return Fetched(embed_file(path, self.model), digest, size)
        except (AudioError, FetchError) as error:
            return error
        finally:
            path.unlink(missing_ok=True)

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass(eq=False)
class _Actor:
    handle: Any
    pid: int
    node_id: str
    in_flight: int = 0


@dataclass
class _Slots:
    """A bound on tracks in flight that follows the number of live actors."""

    per_actor: int
    used: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)


def _check_reachable(address: str) -> None:
    """A quick TCP check of HOST:PORT (or ray://HOST:PORT): Ray itself retries an address with
    nothing behind it for minutes before it gives up."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), CONNECT_CHECK_SECONDS):
            pass
    except (OSError, ValueError) as error:
        raise RayUnavailableError(
            f"cannot connect to the Ray cluster at RAY_ADDRESS={address}: nothing answers "
            f"({type(error).__name__}); is the head running, and the port reachable?"
        ) from None


@contextlib.contextmanager
def _native_stderr_muted() -> Iterator[None]:
    """File descriptor 2 goes to /dev/null for the block (native code writes there directly)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with Path(os.devnull).open("wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _connect(address: str) -> bool:
    """Connect this process to the cluster unless it is already; whether we connected."""
    try:
        import ray
    except ImportError as error:
        raise RayUnavailableError(f"ray is not installed ({error})") from None
    if ray.is_initialized():
        return False
    if address != "auto":
        _check_reachable(address)
    from ray.exceptions import AuthenticationError

    attempts = CLIENT_INIT_ATTEMPTS if address.startswith("ray://") else 1
    for attempt in range(1, attempts + 1):
        try:
            with _native_stderr_muted():  # Ray's C++ core logs each retry; our one line says why
                ray.init(
                    address=address,
                    namespace="soundalike",
                    logging_level=logging.WARNING,
                    log_to_driver=False,
                    configure_logging=False,
                )
            break
        except AuthenticationError as error:  # token mode without a token: before any connection
            raise RayUnavailableError(
                f"cannot connect to the Ray cluster at RAY_ADDRESS={address}: {error}; set "
                "RAY_AUTH_TOKEN to the cluster's token (or RAY_AUTH_MODE=disabled for a cluster "
                "without authentication)"
            ) from None
        except (ConnectionError, RuntimeError, ValueError) as error:
            server_failed = isinstance(error, ConnectionAbortedError) and str(error).startswith(
                "Initialization failure from server"
            )
            if server_failed and attempt < attempts:
                time.sleep(CLIENT_INIT_PAUSE_SECONDS)
                continue
            raise RayUnavailableError(
                f"cannot connect to the Ray cluster at RAY_ADDRESS={address}: {error} (a wrong "
                "RAY_AUTH_TOKEN, or RAY_AUTH_MODE=token missing, looks like this too)"
            ) from None
    return True


class RayEmbeddingService:
    """`await service.embed(path)` from any coroutine, embedded by actors on a Ray cluster."""

    def __init__(
        self,
        model_spec: ModelSpec,
        workers: int | None = None,
        address: str = "auto",
        *,
        replacement_wait: float = REPLACEMENT_WAIT_SECONDS,
        start_timeout: float = START_TIMEOUT_SECONDS,
    ) -> None:
        self.model_spec = model_spec
        self.model_id = model_spec.model_id
        self.address = address
        self.requested_workers = workers
        self.workers = workers or 1  # actors; known once started (default: the cluster's CPUs)
        self.restarts = 0  # actors started to replace lost ones
        self.lost = 0  # actors found dead (their tracks were retried elsewhere)
        self.replacement_wait = replacement_wait
        self.start_timeout = start_timeout
        self._actors: list[_Actor] = []
        self._replacing: set[asyncio.Task[None]] = set()
        self._slots = _Slots(IN_FLIGHT_PER_ACTOR)
        self._connected = False
        self._remote_class: Any = None
        self._closed = False

    # life cycle

    async def start(self) -> None:
        """Connect, start the actors and wait until each has its model loaded; NoWorkersError
        when they cannot (no room on the cluster, a model that does not load there)."""
        self._connected = _connect(self.address)
        try:
            await self._start_actors()
        except BaseException:
            await self.close()
            raise

    async def _start_actors(self) -> None:
        import ray
        from ray.exceptions import RayActorError

        self._remote_class = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(EmbedActor)
        cpus = int(ray.cluster_resources().get("CPU", 0))
        self.workers = self.requested_workers or cpus
        if self.workers < 1:
            raise NoWorkersError(f"the Ray cluster at {self.address} has no CPU for a worker")
        try:
            async with asyncio.timeout(self.start_timeout):
                started = await asyncio.gather(
                    *(self._new_actor() for _ in range(self.workers)), return_exceptions=True
                )
            actors = [actor for actor in started if isinstance(actor, _Actor)]
            failed = [error for error in started if isinstance(error, BaseException)]
            if failed:
                for actor in actors:
                    self._kill(actor.handle)
                raise failed[0]
        except TimeoutError:
            raise NoWorkersError(
                f"{self.workers} Ray actor(s) did not load {self.model_id} within "
                f"{self.start_timeout:.0f} s (the cluster has {cpus} CPU(s))"
            ) from None
        except RayActorError as error:  # the actor's __init__ failed: the model, its files
            first = next((line for line in str(error).splitlines() if line.strip()), "")
            raise NoWorkersError(
                f"a Ray actor could not load {self.model_id}: {first.strip()[:300]}"
            ) from None
        self._actors.extend(actors)
        log.info("ray: %d actor(s) on %d node(s)", len(actors), len(self.nodes()))

    async def _new_actor(self) -> _Actor:
        handle = self._remote_class.remote(self.model_spec, 1)
        try:
            model_id, pid, node_id = await handle.identity.remote()
        except BaseException:
            self._kill(handle)
            raise
        if model_id != self.model_id:
            self._kill(handle)
            raise RuntimeError(f"a Ray actor loaded {model_id}, expected {self.model_id}")
        return _Actor(handle, pid, node_id)

    async def close(self) -> None:
        """Stop the actors (and disconnect, when start() connected)."""
        self._closed = True
        for task in list(self._replacing):
            task.cancel()
        await asyncio.gather(*self._replacing, return_exceptions=True)
        actors, self._actors = self._actors, []
        for actor in actors:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(actor.handle.close.remote(), 5)
            self._kill(actor.handle)
        if self._connected:
            import ray

            ray.shutdown()
            self._connected = False

    async def __aenter__(self) -> "RayEmbeddingService":
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    # what tests and logs look at

    def worker_pids(self) -> set[int]:
        """The process ids of the live actors (on their nodes)."""
        return {actor.pid for actor in self._actors}

    def describe(self) -> str:
        """'4 Ray actor(s)', for the commands' first line and the bot's start-up log."""
        return f"{self.workers} Ray actor(s)"

    def nodes(self) -> set[str]:
        """The Ray node ids the live actors run on."""
        return {actor.node_id for actor in self._actors}

    def actors_on(self, node_id: str) -> int:
        return sum(1 for actor in self._actors if actor.node_id == node_id)

    # embedding

    async def embed(self, path: Path, *, query: bool = False) -> TrackEmbedding:
        """Embed one file on an actor (`query`: see core.embedding_service.Embedder); raises
        core.errors.AudioError subclasses on bad input, WorkerCrashedError or NoWorkersError
        when the cluster lost the actors (see module)."""
        data = await asyncio.to_thread(path.read_bytes)
        result = await self._run(lambda actor, ref: actor.embed.remote(ref, query), data)
        if isinstance(result, AudioError):
            raise result
        assert isinstance(result, TrackEmbedding)
        return result

    async def embed_url(
        self,
        url: str,
        *,
        limits: FetchLimits,
        deadline: float | None = None,
        ca_pem: str | None = None,
        into: Path | None = None,
    ) -> Fetched:
        """An actor fetches `url` itself (core.fetching.fetch: within `limits`, `deadline`
        seconds for this attempt) and embeds it; the bytes never come here, so nothing is
        written at `into` (core.embedding_service.Embedder).

        Raises FetchError for the download, AudioError subclasses for the audio, and
        WorkerCrashedError / NoWorkersError as `embed`.
        """
        result = await self._run(
            lambda actor, _: actor.embed_url.remote(url, limits, deadline, ca_pem), None
        )
        if isinstance(result, AudioError | FetchError):
            raise result
        assert isinstance(result, Fetched)
        return result

    async def _run(self, call: Callable[[Any, Any], Awaitable[Any]], data: bytes | None) -> Any:
        """`call(actor, ref)` on the least busy live actor; when the actor dies, once more on
        another. At most IN_FLIGHT_PER_ACTOR × live actors calls are in flight."""
        if self._remote_class is None or self._closed:
            raise RuntimeError("RayEmbeddingService.start() was not awaited")
        from ray.exceptions import RayActorError

        async with self._slot():
            import ray

            ref = ray.put(data) if data is not None else None
            for attempt in (1, 2):
                actor = await self._pick()
                actor.in_flight += 1
                try:
                    return await call(actor.handle, ref)
                except RayActorError as error:
                    log.warning(
                        "ray: actor %s on node %s lost (%s); %s",
                        actor.pid,
                        actor.node_id[:8],
                        type(error).__name__,
                        "retrying its track elsewhere" if attempt == 1 else "giving up",
                    )
                    self._lost(actor)
                finally:
                    actor.in_flight -= 1
            if not self._actors:
                raise NoWorkersError("no embedding worker is left on the Ray cluster")
            raise WorkerCrashedError("the Ray actors embedding this track died twice")

    @contextlib.asynccontextmanager
    async def _slot(self) -> Any:
        slots = self._slots
        async with slots.changed:
            await slots.changed.wait_for(
                lambda: slots.used < slots.per_actor * max(1, len(self._actors))
            )
            slots.used += 1
        try:
            yield
        finally:
            async with slots.changed:
                slots.used -= 1
                slots.changed.notify_all()

    async def _pick(self) -> _Actor:
        """The live actor with the fewest tracks in flight; waits a while when none is alive."""
        if not self._actors:
            slots = self._slots
            try:
                async with asyncio.timeout(self.replacement_wait), slots.changed:
                    await slots.changed.wait_for(lambda: bool(self._actors))
            except TimeoutError:
                raise NoWorkersError("no embedding worker is left on the Ray cluster") from None
        return min(self._actors, key=lambda actor: actor.in_flight)

    def _lost(self, actor: _Actor) -> None:
        """Forget a dead actor and start its replacement (it waits for room on the cluster)."""
        if actor not in self._actors:
            return  # another track noticed first
        self._actors.remove(actor)
        self.lost += 1
        self._kill(actor.handle)
        if not self._closed:
            task = asyncio.create_task(self._replace())
            self._replacing.add(task)
            task.add_done_callback(self._replacing.discard)

    async def _replace(self) -> None:
        from ray.exceptions import RayActorError

        delay = 1.0
        while not self._closed:
            try:
                actor = await self._new_actor()
            except (RayActorError, RuntimeError) as error:
                log.warning("ray: a replacement actor failed to start (%s); retrying", error)
                await asyncio.sleep(delay)
                delay = min(30.0, 2 * delay)
                continue
            self._actors.append(actor)
            self.restarts += 1
            log.info("ray: replacement actor %s on node %s", actor.pid, actor.node_id[:8])
            async with self._slots.changed:
                self._slots.changed.notify_all()
            return

    @staticmethod
    def _kill(handle: Any) -> None:
        import ray

        with contextlib.suppress(Exception):
            ray.kill(handle, no_restart=True)
