"""The standardised space of a fused model (the default) above the crossover: an approximate
index of the catalog's standardised vectors, with statistics frozen per index generation.

Recomputing the statistics at every catalog revision (as exact ranking of a small catalog
does) costs a pass over the whole catalog per committed track: 29 s and 4.7 GB at 200,000
tracks, on the event loop. Here a generation freezes them once (the shipped prior blended with
the catalog, streamed a chunk at a time from storage, no matrix held) and holds the standardised
vectors in a core.index.VectorIndex. Tracks committed later (by this process or another one:
the catalog revision moves) are standardised with the same statistics and added to it, a chunk
at a time, in a background task; when the catalog has grown by DRIFT since the statistics were
frozen, or tracks were removed, a new generation is built in the background and swapped in
while the old one answers. Everything heavier than a few milliseconds (decoding a chunk,
standardising it, adding it to or searching the index) runs in a thread: numpy and faiss
release the GIL, and the event loop only awaits.

Removed tracks are noticed by the model's vector count, read when a revision brought no new
track of the model (so not per track during an import: the count scans the model's index). A
track's vector replaced in place (same track, same model, the count unchanged) is not seen until
the next generation: the catalog has no cheap way to name it.
"""

import asyncio
import logging
import threading
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from core import index as ann
from core.models import ModelSpec
from core.ranking import Ranking
from core.standardise import Accumulator, Standardiser, Statistics, blend
from storage.embeddings import EmbeddingRepository, VectorRows

log = logging.getLogger(__name__)

DRIFT = 0.10  # a catalog grown by this share since its statistics were frozen gets a new generation
READ_CHUNK = 2_000  # rows read per statement: 6 MB of 768-d vectors, decoded in ~2 ms
ADD_BATCH = 1_000  # rows added to a live index per hold of its lock (searches wait at most this)
# PQ sub-quantisers of the standardised space's index (64 bytes of code per 768-d vector), and
# candidates re-scored from its half-precision copies per result. Measured on 200,000 synthetic
# 768-d fusion vectors (docs/scaling.md): recall@10 0.9985 with 128, 192, 256 or 384
# sub-quantisers and 10, 20 or 40 candidates per result (only half-precision near-ties
# differ), 0.84 ms with 128 × 10 against 1.1–2.8 ms for the others.
PQ = 128
K_FACTOR = 10


@dataclass
class Generation:
    """One index of the standardised catalog and the statistics its vectors were put in with."""

    space: Standardiser
    index: ann.VectorIndex
    frozen_at: int  # catalog size whose statistics it froze
    last_id: int  # the highest track id it holds: later ones are the tracks added since
    count: int  # vectors it holds
    revision: int  # the catalog revision it is known to be current at
    built_s: float  # seconds its build took


class SpaceIndex:
    """Generations of one standardised model's index: the current one answers, the next one is
    built beside it; `refresh` keeps it in step with the catalog without ever blocking a query."""

    def __init__(
        self,
        embeddings: EmbeddingRepository,
        model: ModelSpec,
        prior: Statistics | None,
        crossover: int,
    ) -> None:
        self._embeddings = embeddings
        self.model = model
        self.prior = prior
        self.crossover = crossover
        self.generation: Generation | None = None
        self._lock = threading.Lock()  # faiss: an add and a search never run together
        self._task: asyncio.Task[None] | None = None
        self._failed_at: int | None = None  # revision whose update failed: not retried per query
        self.builds = 0  # generations built
        self.additions = 0  # tracks added to a live generation

    @staticmethod
    def available() -> bool:
        """Whether the optional index library is installed."""
        return ann.available()

    @property
    def busy(self) -> bool:
        """Whether a build or an update runs in the background now."""
        return self._task is not None and not self._task.done()

    async def build(self, revision: int) -> Generation:
        """A new generation from the catalog as it is now, streamed from storage in two passes
        (statistics and a training sample, then the standardised vectors), heavy steps in
        threads. `revision` is the catalog revision read before it started."""
        started = time.monotonic()
        model_id = self.model.model_id
        expected = await self._embeddings.count(model_id)
        accumulator = Accumulator()
        rng = np.random.default_rng(expected)
        share = min(1.0, ann.TRAINING_SIZE / max(expected, 1))
        samples: list[npt.NDArray[np.float32]] = []
        after: int | None = None
        while True:  # pass 1: statistics and a sample to train the quantisers on
            rows = await self._embeddings.rows_after(model_id, after, READ_CHUNK)
            if not len(rows):
                break
            picked = rng.random(len(rows)) < share
            await asyncio.to_thread(accumulator.add, rows.matrix)
            samples.append(rows.matrix[picked].copy())
            after = int(rows.track_ids[-1])
        if accumulator.count == 0:
            raise ValueError(f"no vectors of {model_id} to index")
        own = accumulator.statistics()
        statistics = blend(own, accumulator.count, self.prior)
        space = Standardiser(statistics, self.model.part_sizes, self.model.standardised_parts)
        index = await asyncio.to_thread(self._trained, space, samples, revision)
        del samples
        generation = Generation(space, index, accumulator.count, -(2**63), 0, revision, 0.0)
        await self._fill(generation, live=False)  # pass 2: the standardised vectors
        generation.built_s = time.monotonic() - started
        self.builds += 1
        log.info(
            "standardised index of %s: %d vectors in %.1f s",
            model_id,
            generation.count,
            generation.built_s,
        )
        return generation

    def _trained(
        self, space: Standardiser, samples: list[npt.NDArray[np.float32]], revision: int
    ) -> ann.VectorIndex:
        """In a thread: an empty index trained on the standardised sample."""
        sample = space.rows(np.concatenate(samples))
        pq = PQ if sample.shape[1] % PQ == 0 else None
        return ann.VectorIndex.trained(self.model.model_id, sample, revision, pq=pq)

    async def _fill(self, generation: Generation, *, live: bool, total: bool = False) -> int | None:
        """Add the catalog's tracks above `generation.last_id`, a chunk at a time. With `total`,
        the model's vector count read with the last chunk (a scan of its index: 40 ms or so at a
        million, so not asked while tracks keep arriving)."""
        while True:
            rows = await self._embeddings.rows_after(
                self.model.model_id, generation.last_id, READ_CHUNK, total=total
            )
            if len(rows):
                await asyncio.to_thread(self._add, generation, rows, live)
            if len(rows) < READ_CHUNK:
                return rows.total

    def _add(self, generation: Generation, rows: VectorRows, live: bool) -> None:
        """In a thread: standardise `rows` with the generation's statistics and add them (a live
        index a batch per hold of its lock, so a search waits a few milliseconds at most)."""
        matrix = generation.space.rows(rows.matrix)
        if not live:  # nothing searches it yet
            generation.index.add(rows.track_ids, matrix, generation.revision)
        for start in range(0, len(rows) if live else 0, ADD_BATCH):
            batch = slice(start, start + ADD_BATCH)
            with self._lock:
                generation.index.add(rows.track_ids[batch], matrix[batch], generation.revision)
        generation.last_id = int(rows.track_ids[-1])
        generation.count += len(rows)

    async def prepare(self, revision: int) -> Generation:
        """Start-up: the first generation, awaited (its build runs in threads); after a failure
        it is not tried again before the catalog changes."""
        try:
            generation = await self.build(revision)
            await self._fill(generation, live=False)
        except Exception:
            self._failed_at = revision
            raise
        self.generation = generation
        return generation

    def start(self, revision: int) -> None:
        """Build the first generation in the background (exact ranking answers meanwhile: a
        catalog that has just grown past the crossover); returns at once."""
        if self.generation is not None or self.busy or self._failed_at == revision:
            return
        self._task = asyncio.get_running_loop().create_task(self._first(revision))

    async def _first(self, revision: int) -> None:
        try:
            await self.prepare(revision)
        except Exception:
            log.exception("standardised index of %s not built", self.model.model_id)

    def refresh(self, revision: int) -> None:
        """Bring the current generation to `revision` in the background (added tracks), or
        start a new one (drift, removals); returns at once. One update at a time: a revision
        that moves during one is caught by the next query's call."""
        generation = self.generation
        if generation is None or generation.revision == revision or self.busy:
            return
        if self._failed_at == revision:
            return
        self._task = asyncio.get_running_loop().create_task(self._update(generation, revision))

    async def settled(self) -> None:
        """Wait for the background update in progress, if any (tests, the benchmark)."""
        while self.busy and self._task is not None:
            await asyncio.wait({self._task})

    async def _update(self, generation: Generation, revision: int) -> None:
        try:
            before = generation.count
            await self._fill(generation, live=True)
            if generation.count > before:  # tracks arrived: an import, the usual case
                self.additions += generation.count - before
                drifted = generation.count >= generation.frozen_at * (1 + DRIFT)
                if not drifted:
                    generation.revision = revision
                    return
                changed = False
            else:  # nothing new of this model: removed tracks, or another model's change
                total = await self._fill(generation, live=True, total=True)
                self.additions += generation.count - before
                if total is not None and total < self.crossover:
                    log.info("%s fell below the crossover: ranked exactly", self.model.model_id)
                    self.generation = None
                    return
                # more or fewer vectors than it holds: some were removed, or given to tracks
                # below its last id (a reindex): only a new generation holds the catalog now
                changed = total is not None and total != generation.count
                if not changed:
                    generation.revision = revision
                    return
            why = "its tracks changed" if changed else f"the catalog grew by {DRIFT:.0%}"
            log.info("new generation of the %s index: %s", self.model.model_id, why)
            fresh = await self.build(revision)
            await self._fill(fresh, live=False)
            self.generation = fresh  # swapped in: the old one answered until now
        except Exception:
            self._failed_at = revision
            log.exception("standardised index of %s not updated", self.model.model_id)

    async def search(self, vector: npt.NDArray[np.float32], k: int) -> Ranking:
        """The about `k` nearest tracks to the raw `vector` in the current generation's space,
        searched in a thread. RuntimeError when there is no generation."""
        generation = self.generation
        if generation is None:
            raise RuntimeError(f"no index of {self.model.model_id}")
        return await asyncio.to_thread(self._search, generation, vector, k)

    def _search(self, generation: Generation, vector: npt.NDArray[np.float32], k: int) -> Ranking:
        query = generation.space.query(vector)
        with self._lock:
            return generation.index.search(query, k, k_factor=K_FACTOR)
