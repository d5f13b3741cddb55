"""A model's catalog as ranked: the one place that knows how a raw query vector becomes a ranking
(plain cosine, or the standardised space of a fused model; exact below the crossover, through
the index above it) and how the stored vector closest to it is found (copy detection).

The recommender asks questions of it — for an uploaded track, a stored one, an album's mean —
and never touches the catalog matrix itself, so how ranking scales is decided here alone.

A standardised model (the default fusion) below the crossover, or without faiss, ranks exactly
in its catalog's space, recomputed per revision in a thread (streamed, never on the event loop);
from the crossover up, catalog/space_index.py's generations answer (statistics frozen per
generation, tracks added as they arrive, a new generation built in the background), and the
catalog matrix is not held. There a copy is found among the first COPY_CANDIDATES of the
standardised ranking by their stored vectors' plain cosine (a few rows read from storage).
"""

import asyncio
import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from catalog.index import CatalogIndex, index_folder
from catalog.space_index import SpaceIndex
from core.models import ModelSpec
from core.ranking import Ranking, rank
from core.standardise import RankingSpace, load_prior
from storage import Catalog, CatalogCache, Database

log = logging.getLogger(__name__)

# Candidates of the standardised ranking whose stored vectors are compared by plain cosine for
# copy detection above the crossover: a re-encode's standardised score scatters (down to 0.75),
# but it stays among the first few of a catalog's (bench/catalog_scale.py counts them).
COPY_CANDIDATES = 32


@dataclass(frozen=True)
class Ranked:
    """A query's ranking in the model's space, and the stored vector nearest to it by plain
    cosine (≤ 1 entry): what decides whether the query is a copy of a catalog track."""

    ranking: Ranking
    nearest: Ranking


class CatalogRanker:
    """Ranks raw vectors of one model against that model's catalog."""

    def __init__(self, database: Database, model: ModelSpec, index: CatalogIndex | None = None):
        self.model = model
        self.database = database
        self.catalog = CatalogCache(database.embeddings, model.model_id)
        # a standardised model ranks in its catalog's space: exactly below the crossover,
        # recomputed when the catalog changes; above it through `spaces`' generations
        self._prior = load_prior(model.model_id) if model.standardised else None
        self._space: tuple[int, RankingSpace] | None = None
        self._space_lock = asyncio.Lock()
        # exact ranking below the crossover; the approximate index (optional install) above it,
        # only read, never built or written, over a read-only database
        self.index = index or CatalogIndex(
            index_folder(database.path), model.model_id, read_only=database.read_only
        )
        self.spaces = SpaceIndex(database.embeddings, model, self._prior, self.index.crossover)

    async def prepare(self) -> int:
        """Start-up: load, update or build what ranking needs now rather than on the first
        query; the catalog's size."""
        if not self.model.standardised:
            catalog = await self.catalog.get()
            await self.index.prepare(self.catalog)
            return len(catalog)
        revision = await self.catalog.revision()
        count = await self.database.embeddings.count(self.model.model_id)
        if count >= self.spaces.crossover and self.spaces.available():
            try:
                generation = await self.spaces.prepare(revision)  # the matrix is never loaded
            except Exception:  # the bot still starts: its queries are ranked exactly
                log.exception("no standardised index of %s: ranked exactly", self.model.model_id)
            else:
                return generation.count
        catalog = await self.catalog.get()
        await self.ranking_space(catalog)
        return len(catalog)

    async def ranking_space(self, catalog: Catalog) -> RankingSpace | None:
        """The catalog's standardised space (None for a model ranked by plain cosine), computed
        in a thread once per revision."""
        if not self.model.standardised:
            return None
        async with self._space_lock:
            if self._space is None or self._space[0] != catalog.revision:
                space = await asyncio.to_thread(
                    RankingSpace.of,
                    catalog.matrix,
                    self.model.part_sizes,
                    self._prior,
                    self.model.standardised_parts,
                )
                self._space = (catalog.revision, space)
            return self._space[1]

    async def rank(self, vector: npt.NDArray[np.float32], k: int) -> Ranked:
        """The `k` catalog tracks most similar to the raw `vector`, best first, in the model's
        ranking space; both rankings empty when the catalog has no vectors of this model."""
        if not self.model.standardised:
            # exact below the crossover; above it the index alone, and then the catalog
            # matrix is not held (catalog/index.py)
            ranking = await self.index.rank(vector, self.catalog, k)
            return Ranked(ranking, ranking)
        # a copy is recognised by the stored vectors' plain cosine, since standardising
        # spreads the scores of re-encodes too widely to set a threshold on
        if await self._indexed():
            ranking = await self.spaces.search(vector, max(k, COPY_CANDIDATES))
            nearest = await self._nearest_of(vector, ranking.ids[:COPY_CANDIDATES])
            return Ranked(Ranking(ranking.ids[:k], ranking.scores[:k]), nearest)
        catalog = await self.catalog.get()
        self._grown(catalog)
        space = await self.ranking_space(catalog)
        if space is None or len(catalog) == 0:
            empty = Ranking(np.zeros(0, np.int64), np.zeros(0, np.float32))
            return Ranked(empty, empty)
        ranking = rank(space.query(vector), space.matrix, catalog.track_ids, k)
        return Ranked(ranking, rank(vector, catalog.matrix, catalog.track_ids, 1))

    async def nearest(self, vector: npt.NDArray[np.float32]) -> Ranking:
        """The stored vector closest to the raw `vector` by plain cosine (≤ 1 entry); above
        the crossover, among the standardised ranking's first COPY_CANDIDATES."""
        if not self.model.standardised:
            return await self.index.rank(vector, self.catalog, 1)
        if await self._indexed():
            ranking = await self.spaces.search(vector, COPY_CANDIDATES)
            return await self._nearest_of(vector, ranking.ids)
        catalog = await self.catalog.get()
        return rank(vector, catalog.matrix, catalog.track_ids, 1)

    async def _indexed(self) -> bool:
        """Whether a generation of the standardised index answers (set off its update to the
        catalog's revision in the background); the exact space and matrix are let go then."""
        if self.spaces.generation is None:
            return False
        self.spaces.refresh(await self.catalog.revision())
        if self._space is not None or self.catalog.held:
            self._space = None
            self.catalog.release()
        return self.spaces.generation is not None

    def _grown(self, catalog: Catalog) -> None:
        """A catalog ranked exactly that has reached the crossover gets its first generation,
        built in the background while exact ranking answers."""
        if len(catalog) >= self.spaces.crossover and self.spaces.available():
            self.spaces.start(catalog.revision)

    async def _nearest_of(
        self, vector: npt.NDArray[np.float32], candidates: npt.NDArray[np.int64]
    ) -> Ranking:
        """The candidate whose stored vector is closest to `vector` by plain cosine."""
        stored = await self.database.embeddings.vectors(
            self.model.model_id, [int(i) for i in candidates]
        )
        ids = np.array([i for i in candidates if int(i) in stored], np.int64)
        if not len(ids):
            return Ranking(np.zeros(0, np.int64), np.zeros(0, np.float32))
        matrix = np.stack([stored[int(i)] for i in ids])
        return rank(vector, matrix, ids, 1)
